//! Small SVG charts drawn on the server: lines over time or over
//! categories, and bars. No script and no inline style (the CSP forbids
//! both): colours come from classes in `app.css`. Every point and bar has a
//! `<title>`, which browsers show as a tooltip.

use maud::{Markup, html};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 42.0;

/// A round upper bound for an axis and its step: 0 to `max` in 4 steps.
fn axis(max: f64) -> (f64, f64) {
    if !(max.is_finite() && max > 0.0) {
        return (1.0, 0.25);
    }
    let rough = max / 4.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|factor| factor * magnitude)
        .find(|step| step * 4.0 >= max)
        .unwrap_or(10.0 * magnitude);
    (step * 4.0, step)
}

fn number(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// Labels at the ends of an axis are aligned inwards, so they are not cut.
fn anchor(index: usize, count: usize) -> &'static str {
    if count > 1 && index == 0 {
        "start"
    } else if count > 1 && index + 1 == count {
        "end"
    } else {
        "middle"
    }
}

fn y_of(value: f64, max: f64) -> f64 {
    TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - value / max)
}

/// The horizontal grid, the y labels and the frame of a plot.
fn grid(max: f64, step: f64, format: &dyn Fn(f64) -> String) -> Markup {
    let ticks: Vec<f64> = (0..=4).map(|index| index as f64 * step).filter(|tick| *tick <= max + step / 2.0).collect();
    html! {
        @for tick in ticks {
            @let y = y_of(tick, max);
            line class="grid" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) {}
            text class="axis" x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (format(tick)) }
        }
    }
}

/// One line of a chart over categories.
pub struct Series<'a> {
    pub name: &'a str,
    /// `series-1`, `series-2`, ...: the colour class.
    pub class: &'a str,
    pub values: Vec<f64>,
}

/// Lines over categories (weeks), with a legend.
pub fn category_lines(label: &str, categories: &[String], series: &[Series<'_>]) -> Markup {
    let max = series.iter().flat_map(|series| series.values.iter().copied()).fold(0.0, f64::max);
    let (max, step) = axis(max);
    let count = categories.len().max(1);
    let span = WIDTH - LEFT - RIGHT;
    let x_of =
        |index: usize| if count == 1 { LEFT + span / 2.0 } else { LEFT + span * index as f64 / (count - 1) as f64 };
    // At most six labels along the axis, so that they never overlap.
    let every = count.div_ceil(6).max(1);
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(label) {
                title { (label) }
                (grid(max, step, &number))
                @for (index, category) in categories.iter().enumerate() {
                    @if index % every == 0 {
                        text class="axis" x=(x_of(index)) y=(HEIGHT - BOTTOM + 16.0) text-anchor=(anchor(index, count)) { (category) }
                    }
                }
                @for line in series {
                    @let points: Vec<String> = line.values.iter().enumerate()
                        .map(|(index, value)| format!("{:.1},{:.1}", x_of(index), y_of(*value, max))).collect();
                    polyline class={ "line " (line.class) } points=(points.join(" ")) {}
                    @for (index, value) in line.values.iter().enumerate() {
                        circle class={ "dot " (line.class) } cx=(format!("{:.1}", x_of(index))) cy=(format!("{:.1}", y_of(*value, max))) r="3.5" {
                            title { (line.name) ", " (categories.get(index).map_or("", String::as_str)) ": " (number(*value)) }
                        }
                    }
                }
            }
            (legend(series.iter().map(|line| (line.name, line.class))))
        }
    }
}

fn legend<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>) -> Markup {
    html! {
        figcaption class="legend" {
            @for (name, class) in entries {
                span { svg class="swatch" viewBox="0 0 10 10" aria-hidden="true" { rect class={ "fill " (class) } width="10" height="10" {} } " " (name) }
            }
        }
    }
}

/// A point of a line over time: x in any unit (here days), y.
pub struct TimeLine {
    pub points: Vec<(f64, f64)>,
    /// The x labels: (x, text).
    pub ticks: Vec<(f64, String)>,
    /// A horizontal line: (y, label).
    pub threshold: Option<(f64, String)>,
    /// A vertical line: (x, label).
    pub moment: Option<(f64, String)>,
    /// What each point's tooltip says.
    pub point_titles: Vec<String>,
}

/// A line over time with a threshold and a moment marked.
pub fn time_line(label: &str, line: &TimeLine) -> Markup {
    let highest = line.points.iter().map(|(_, y)| *y).fold(0.0, f64::max);
    let highest = line.threshold.as_ref().map_or(highest, |(y, _)| highest.max(*y * 1.1));
    let (max, step) = axis(highest);
    let first = line.points.first().map_or(0.0, |(x, _)| *x);
    let last = line.points.last().map_or(1.0, |(x, _)| *x);
    let width = if last > first { last - first } else { 1.0 };
    let x_of = |x: f64| LEFT + (WIDTH - LEFT - RIGHT) * (x - first) / width;
    let points: Vec<String> =
        line.points.iter().map(|(x, y)| format!("{:.1},{:.1}", x_of(*x), y_of(*y, max))).collect();
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(label) {
                title { (label) }
                (grid(max, step, &number))
                @for (index, (x, text)) in line.ticks.iter().enumerate() {
                    text class="axis" x=(format!("{:.1}", x_of(*x))) y=(HEIGHT - BOTTOM + 16.0) text-anchor=(anchor(index, line.ticks.len())) { (text) }
                }
                @if let Some((y, text)) = &line.threshold {
                    @let y = y_of(*y, max);
                    line class="threshold" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(format!("{y:.1}")) y2=(format!("{y:.1}")) {}
                    text class="mark-label" x=(WIDTH - RIGHT - 4.0) y=(format!("{:.1}", y - 5.0)) text-anchor="end" { (text) }
                }
                @if let Some((x, text)) = &line.moment {
                    @let x = x_of(*x);
                    line class="moment" x1=(format!("{x:.1}")) x2=(format!("{x:.1}")) y1=(TOP) y2=(HEIGHT - BOTTOM) {}
                    text class="mark-label" x=(format!("{:.1}", x + 4.0)) y=(TOP + 10.0) { (text) }
                }
                polyline class="line series-1" points=(points.join(" ")) {}
                @for (index, (x, y)) in line.points.iter().enumerate() {
                    circle class="dot series-1 small" cx=(format!("{:.1}", x_of(*x))) cy=(format!("{:.1}", y_of(*y, max))) r="2.5" {
                        title { (line.point_titles.get(index).map_or("", String::as_str)) }
                    }
                }
            }
        }
    }
}

/// One bar: its label, value and tooltip.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub text: String,
}

/// Vertical bars over categories.
pub fn columns(label: &str, bars: &[Bar], format: &dyn Fn(f64) -> String) -> Markup {
    let (max, step) = axis(bars.iter().map(|bar| bar.value).fold(0.0, f64::max));
    let slot = (WIDTH - LEFT - RIGHT) / bars.len().max(1) as f64;
    let width = (slot * 0.7).min(60.0);
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(label) {
                title { (label) }
                (grid(max, step, format))
                @for (index, bar) in bars.iter().enumerate() {
                    @let x = LEFT + slot * index as f64 + (slot - width) / 2.0;
                    @let y = y_of(bar.value, max);
                    rect class="bar series-1" x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{width:.1}"))
                        height=(format!("{:.1}", (HEIGHT - BOTTOM - y).max(0.0))) {
                        title { (bar.label) ": " (bar.text) }
                    }
                    text class="axis" x=(format!("{:.1}", x + width / 2.0)) y=(HEIGHT - BOTTOM + 16.0) text-anchor="middle" { (bar.label) }
                    text class="value" x=(format!("{:.1}", x + width / 2.0)) y=(format!("{:.1}", y - 4.0)) text-anchor="middle" { (bar.text) }
                }
            }
        }
    }
}

/// Horizontal bars, one per row, with the label on the left and the value
/// text on the right: a funnel, counts by reason, lift by rule.
pub fn rows(label: &str, bars: &[Bar]) -> Markup {
    let row_height = 26.0;
    let height = row_height * bars.len().max(1) as f64 + 8.0;
    let label_width = 190.0;
    let value_width = 90.0;
    let span = WIDTH - label_width - value_width;
    let max = bars.iter().map(|bar| bar.value).fold(0.0, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    html! {
        figure class="chart" {
            svg viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label=(label) {
                title { (label) }
                @for (index, bar) in bars.iter().enumerate() {
                    @let y = 4.0 + row_height * index as f64;
                    text class="axis" x=(label_width - 8.0) y=(y + 17.0) text-anchor="end" { (bar.label) }
                    rect class={ "bar series-" ((index % 4) + 1) } x=(label_width) y=(y + 3.0)
                        width=(format!("{:.1}", (span * bar.value.max(0.0) / max).max(1.0))) height=(row_height - 6.0) {
                        title { (bar.label) ": " (bar.text) }
                    }
                    text class="value" x=(format!("{:.1}", label_width + (span * bar.value.max(0.0) / max).max(1.0) + 6.0)) y=(y + 17.0) { (bar.text) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_a_round_number_at_or_above_the_highest_value() {
        let cases =
            [(0.0, 1.0), (3.0, 4.0), (37.0, 40.0), (100.0, 100.0), (101.0, 200.0), (0.38, 0.4), (9_000.0, 10_000.0)];
        for (highest, expected) in cases {
            let (max, step) = axis(highest);
            assert!((max - expected).abs() < 1e-9, "{highest}: {max}");
            assert!((step * 4.0 - max).abs() < 1e-9);
        }
    }

    #[test]
    fn chart_labels_are_escaped() {
        let markup = columns("x", &[Bar { label: "<b>".into(), value: 1.0, text: "1".into() }], &number).into_string();
        assert!(markup.contains("&lt;b&gt;") && !markup.contains("<b>"), "{markup}");
    }
}
