-- The demo jewelry model (crates/generator/src/jewelry-model.toml) written
-- as DuckDB SQL over an NDJSON file of Segment messages: the "analyst's
-- alternative" that bench/score.sh times against `qualify score`.
--
-- It implements sections 1-5 of ../shared/spec/scoring.md (and the project's
-- decisions in docs/scoring.md where they matter for this data) and prints
-- the same CSV as
--   qualify score --events F --model jewelry-model.toml --as-of T --format csv
--
-- Placeholders, substituted by bench/duckdb_score.py:
--   {{EVENTS}}  the NDJSON file (SQL string literal, already quoted)
--   {{AS_OF}}   the evaluation time, RFC 3339 (SQL string literal)
--   {{OUTPUT}}  where the CSV goes (SQL string literal, e.g. '/dev/stdout')
-- Statements are separated by lines holding only ";".
--
-- Known limits (none of them occurs in the generator's data):
--   * a message without a messageId is kept (Qualify dedups it by its text);
--   * a field of the wrong JSON type for its column (e.g. `properties` not an
--     object) makes read_ndjson fail instead of rejecting that one message;
--   * a message with no time at all gets now() as its time;
--   * userId-into-userId merges follow the first alias of each previousId;
--     in a merge cycle the latest merge is dropped, but a later alias of that
--     previousId is not tried instead (Qualify would try it).
--   * decayed sums are carried as points * 2^((t - t0)/half_life) with t0 the
--     lead's first event, which stays exact to ~1e-15 relative as long as a
--     lead's history spans less than ~1000 half-lives.

SET TimeZone = 'UTC'
;
-- A JSON value as a number: a JSON number, or a string holding one (white
-- space around it allowed, Rust's f64 grammar); NaN and infinities are not
-- numbers. NULL otherwise.
CREATE OR REPLACE TEMP MACRO jnum(j) AS (
    CASE
        WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN j::DOUBLE
        WHEN json_type(j) = 'VARCHAR'
            THEN try_cast(nullif(regexp_extract(j ->> '$',
                '^\s*([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?)\s*$', 1), '') AS DOUBLE)
    END
)
;
-- The text of a JSON string (NULL for any other type).
CREATE OR REPLACE TEMP MACRO jstr(j) AS (CASE WHEN json_type(j) = 'VARCHAR' THEN j ->> '$' END)
;
-- contains_any with text operands: an array sharing a string element with
-- the list, or a string equal to one of them; false for any other value.
CREATE OR REPLACE TEMP MACRO jcontains_any(j, wanted) AS (
    CASE json_type(j)
        WHEN 'ARRAY' THEN list_has_any(
            list_transform(j::JSON[], lambda x: CASE WHEN json_type(x) = 'VARCHAR' THEN x ->> '$' END), wanted)
        WHEN 'VARCHAR' THEN list_contains(wanted, j ->> '$')
        ELSE false
    END
)
;
-- The path part of a URL: after the scheme, from the first "/" up to "?" or
-- "#" ("/" when there is none); a URL without a scheme is a path already.
CREATE OR REPLACE TEMP MACRO url_path(url) AS (
    CASE WHEN contains(url, '://') THEN
            coalesce(nullif(regexp_extract(substr(url, strpos(url, '://') + 3), '/[^?#]*'), ''), '/')
         WHEN contains(url, '/') THEN regexp_extract(url, '^[^?#]*')
         ELSE '/' END
)
;
-- An RFC 3339 time, in microseconds since the epoch; NULL when not valid.
CREATE OR REPLACE TEMP MACRO rfc3339_us(s) AS (
    CASE WHEN regexp_full_match(s, '[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})')
         THEN epoch_us(try_cast(s AS TIMESTAMPTZ)) END
)
;
-- 1. Read every line: a message, or a {"batch": [...]} envelope. Only the
--    fields the model reads are typed; other keys are ignored by the reader.
--    `line` is the 1-based line number (file order).
CREATE OR REPLACE TEMP TABLE lines AS
SELECT *
FROM read_ndjson({{EVENTS}},
    maximum_object_size = 1073741824,
    columns = {
        type: 'VARCHAR', messageId: 'VARCHAR', userId: 'VARCHAR', anonymousId: 'VARCHAR',
        previousId: 'VARCHAR', "timestamp": 'VARCHAR', originalTimestamp: 'VARCHAR',
        receivedAt: 'VARCHAR', event: 'VARCHAR',
        properties: 'STRUCT(path JSON, url JSON, query JSON, message_length JSON, total JSON)',
        traits: 'STRUCT(age JSON, household_income JSON, interests JSON, attends_social_events JSON, relationship_status JSON)',
        context: 'STRUCT(page STRUCT(path JSON), traits STRUCT(age JSON, household_income JSON, interests JSON, attends_social_events JSON, relationship_status JSON))',
        batch: 'STRUCT(type VARCHAR, messageId VARCHAR, userId VARCHAR, anonymousId VARCHAR, previousId VARCHAR, "timestamp" VARCHAR, originalTimestamp VARCHAR, receivedAt VARCHAR, event VARCHAR, properties STRUCT(path JSON, url JSON, query JSON, message_length JSON, total JSON), traits STRUCT(age JSON, household_income JSON, interests JSON, attends_social_events JSON, relationship_status JSON), context STRUCT(page STRUCT(path JSON), traits STRUCT(age JSON, household_income JSON, interests JSON, attends_social_events JSON, relationship_status JSON)))[]'
    }) WITH ORDINALITY AS l(type, messageId, userId, anonymousId, previousId, "timestamp",
        originalTimestamp, receivedAt, event, properties, traits, context, batch, line)
;
-- 2. Messages in file order: plain lines, then the items of each envelope
--    (the envelope's `context` merged under each item's own, key by key).
--    Valid messages only (spec 1 / docs "Rejected"); empty ids are missing.
CREATE OR REPLACE TEMP TABLE messages AS
WITH flat AS (
    SELECT line * 1048576 AS ord, type, messageId, userId, anonymousId, previousId, "timestamp",
           originalTimestamp, receivedAt, event, properties, traits,
           context.page.path AS context_page_path, context.traits AS context_traits
    FROM lines WHERE batch IS NULL
    UNION ALL
    SELECT line * 1048576 + i AS ord, m.type, m.messageId, m.userId, m.anonymousId, m.previousId, m."timestamp",
           m.originalTimestamp, m.receivedAt, m.event, m.properties, m.traits,
           CASE WHEN m.context.page IS NOT NULL THEN m.context.page.path ELSE envelope_context.page.path END,
           coalesce(m.context.traits, envelope_context.traits)
    FROM (SELECT line, context AS envelope_context,
                 unnest(batch) AS m, unnest(range(1, len(batch) + 1)) AS i
          FROM lines WHERE batch IS NOT NULL)
),
cleaned AS (
    SELECT ord, type, nullif(messageId, '') AS messageId, nullif(userId, '') AS userId,
           nullif(anonymousId, '') AS anonymousId, nullif(previousId, '') AS previousId,
           CASE WHEN "timestamp" IS NOT NULL THEN rfc3339_us("timestamp")
                WHEN originalTimestamp IS NOT NULL THEN rfc3339_us(originalTimestamp)
                WHEN receivedAt IS NOT NULL THEN rfc3339_us(receivedAt)
                ELSE epoch_us(now()) END AS t_us,
           event, properties, traits, context_page_path, context_traits
    FROM flat
)
SELECT * FROM cleaned
WHERE type IN ('identify', 'track', 'page', 'screen', 'group', 'alias')
  AND (userId IS NOT NULL OR anonymousId IS NOT NULL)
  AND t_us IS NOT NULL
  AND (type <> 'track' OR event IS NOT NULL)
  AND (type <> 'alias' OR (previousId IS NOT NULL AND userId IS NOT NULL))
;
-- 3. Accepted events as of T: the first message of each messageId (file
--    order) wins, then only events at or before T count. `seq` is the
--    (event time, acceptance) order. Each event is checked against the
--    engagement rules (one column per rule) and, for identify, the fit rules
--    (one boolean per trait condition, NULL when the trait is missing).
CREATE OR REPLACE TEMP TABLE ev AS
WITH dedup AS (
    SELECT * FROM messages WHERE messageId IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY messageId ORDER BY ord) = 1
    UNION ALL
    SELECT * FROM messages WHERE messageId IS NULL
),
as_of AS (
    SELECT *,
        -- page path: properties.path, else context.page.path, else the path of properties.url
        CASE WHEN type IN ('page', 'screen') THEN coalesce(
            jstr(properties.path),
            jstr(context_page_path),
            url_path(jstr(properties.url))
        ) END AS path
    FROM dedup
    WHERE t_us <= epoch_us({{AS_OF}}::TIMESTAMPTZ)
),
merged_traits AS (
    SELECT *,
        coalesce(traits.age, context_traits.age) AS tr_age,
        coalesce(traits.household_income, context_traits.household_income) AS tr_income,
        coalesce(traits.interests, context_traits.interests) AS tr_interests,
        coalesce(traits.attends_social_events, context_traits.attends_social_events) AS tr_social,
        coalesce(traits.relationship_status, context_traits.relationship_status) AS tr_status
    FROM as_of
)
SELECT
    row_number() OVER (ORDER BY t_us, ord) AS seq,
    t_us, ord, type, userId, anonymousId, previousId,
    type IN ('page', 'screen', 'track') AS is_activity,
    -- engagement rules (the visit rule is applied to derived visits below)
    type = 'page' AND starts_with(path, '/products/') AS r_product_page,
    type = 'screen' AND starts_with(path, '/products/') AS r_app_product_view,
    type = 'page' AND path = '/pages/book-an-appointment' AS r_appointment_page,
    type = 'track' AND event = 'Products Searched' AND coalesce(
        CASE json_type(properties.query)
            WHEN 'VARCHAR' THEN contains(properties.query ->> '$', 'ring')
            WHEN 'ARRAY' THEN jcontains_any(properties.query, ['ring'])
            ELSE false END, false) AS r_ring_search,
    type = 'track' AND event = 'Product Added to Wishlist' AS r_wishlist,
    type = 'track' AND event = 'Newsletter Subscribed' AS r_newsletter_signup,
    type = 'track' AND event = 'Catalog Downloaded' AS r_catalog_download,
    type = 'track' AND event = 'Inquiry Submitted' AND coalesce(jnum(properties.message_length) >= 80, false) AS r_detailed_inquiry,
    type = 'track' AND event = 'Inquiry Submitted' AND coalesce(jnum(properties.message_length) < 80, false) AS r_short_inquiry,
    type = 'track' AND event = 'Appointment Booked' AS r_appointment_booked,
    type = 'track' AND event = 'Order Completed' AND coalesce(jnum(properties.total) >= 1000, false) AS r_high_value_order,
    type = 'track' AND event = 'Unsubscribed' AS r_unsubscribed,
    -- fit conditions on identify traits (NULL: this message does not set the trait)
    CASE WHEN type = 'identify' AND tr_age IS NOT NULL THEN coalesce(jnum(tr_age) BETWEEN 30 AND 50, false) END AS f_age_30_50,
    CASE WHEN type = 'identify' AND tr_age IS NOT NULL THEN coalesce(jnum(tr_age) BETWEEN 25 AND 40, false) END AS f_age_25_40,
    CASE WHEN type = 'identify' AND tr_income IS NOT NULL THEN coalesce(jnum(tr_income) >= 150000, false) END AS f_affluent,
    CASE WHEN type = 'identify' AND tr_interests IS NOT NULL THEN jcontains_any(tr_interests, ['high-end fashion', 'accessories']) END AS f_fashion,
    CASE WHEN type = 'identify' AND tr_interests IS NOT NULL THEN jcontains_any(tr_interests, ['bridal', 'wedding']) END AS f_bridal,
    CASE WHEN type = 'identify' AND tr_social IS NOT NULL THEN CASE WHEN json_type(tr_social) = 'BOOLEAN' THEN tr_social::BOOLEAN ELSE false END END AS f_social,
    CASE WHEN type = 'identify' AND tr_status IS NOT NULL THEN coalesce(jstr(tr_status) = 'engaged', false) END AS f_engaged
FROM merged_traits
;
-- 4. Identity (spec 2), from the events at or before T.
--    Merges: an alias whose previousId is used as a userId merges that lead
--    into the alias's userId; the first merge of a userId wins; in a cycle
--    the latest merge is dropped.
CREATE OR REPLACE TEMP TABLE known_users AS
SELECT DISTINCT userId FROM ev WHERE userId IS NOT NULL
;
CREATE OR REPLACE TEMP TABLE merge_edges AS
WITH first_merge AS (
    SELECT previousId AS p, arg_min(userId, seq) AS u, min(seq) AS seq
    FROM ev
    WHERE type = 'alias' AND previousId <> userId AND previousId IN (SELECT userId FROM known_users)
    GROUP BY previousId
),
walk AS (
    -- follow each merge chain; `path` lists the ids passed through
    WITH RECURSIVE w(start, cur, path) AS (
        SELECT p, u, [p] FROM first_merge
        UNION ALL
        SELECT w.start, m.u, list_append(w.path, w.cur)
        FROM w JOIN first_merge m ON m.p = w.cur
        WHERE NOT list_contains(w.path, w.cur)
    )
    SELECT * FROM w
),
-- ids on a cycle: their chain comes back to them; the cycle is named by its
-- sorted members, and its latest edge is dropped
cycles AS (
    SELECT start AS p, list_sort(path) AS members FROM walk WHERE cur = start
),
dropped AS (
    SELECT arg_max(c.p, f.seq) AS p FROM cycles c JOIN first_merge f ON f.p = c.p GROUP BY c.members
)
SELECT p, u FROM first_merge WHERE p NOT IN (SELECT p FROM dropped)
;
CREATE OR REPLACE TEMP TABLE survivor AS
WITH RECURSIVE w(start, cur, depth) AS (
    SELECT p, u, 1 FROM merge_edges
    UNION ALL
    SELECT w.start, m.u, w.depth + 1 FROM w JOIN merge_edges m ON m.p = w.cur
)
SELECT start AS user_id, arg_max(cur, depth) AS surviving FROM w GROUP BY start
;
-- anonymousId -> the first userId it was linked to (event time, then
-- acceptance): a message with both ids, or an alias from an id that is not
-- a userId.
CREATE OR REPLACE TEMP TABLE anon_owner AS
WITH links AS (
    SELECT anonymousId AS a, userId AS u, seq FROM ev WHERE userId IS NOT NULL AND anonymousId IS NOT NULL
    UNION ALL
    SELECT previousId, userId, seq FROM ev
    WHERE type = 'alias' AND previousId <> userId AND previousId NOT IN (SELECT userId FROM known_users)
)
SELECT a, arg_min(u, seq) AS u FROM links GROUP BY a
;
-- 5. Each event with its lead, and derived visits (spec 3): page, screen and
--    track events in time order; a visit starts at the first, and again after
--    a gap of more than 30 minutes.
CREATE OR REPLACE TEMP TABLE lead_ev AS
WITH with_lead AS (
    SELECT e.*,
        CASE WHEN e.userId IS NOT NULL THEN coalesce(s1.surviving, e.userId)
             WHEN o.u IS NOT NULL THEN coalesce(s2.surviving, o.u)
             ELSE 'anon:' || e.anonymousId END AS lead_id,
        e.userId IS NULL AND o.u IS NULL AS is_anon
    FROM ev e
    LEFT JOIN anon_owner o ON e.userId IS NULL AND o.a = e.anonymousId
    LEFT JOIN survivor s1 ON s1.user_id = e.userId
    LEFT JOIN survivor s2 ON s2.user_id = o.u
),
activity AS (
    SELECT seq, t_us - lag(t_us) OVER (PARTITION BY lead_id ORDER BY t_us, seq) AS gap
    FROM with_lead WHERE is_activity
)
SELECT w.*, coalesce(a.gap IS NULL OR a.gap > 30 * 60 * 1000000, false) AND w.is_activity AS r_repeat_visits
FROM with_lead w LEFT JOIN activity a USING (seq)
;
-- 6. Scores at every message time of each lead, and as of T (one extra row
--    per lead). A rule's decayed sum at time t is
--        sum(points * 0.5^((t - te)/h)) = 0.5^((t - t0)/h) * sum(points * 2^((te - t0)/h))
--    with t0 the lead's first event, so each rule is one running (or, with
--    within_days, sliding RANGE) window sum; RANGE ... CURRENT ROW counts
--    every event at time t itself. Traits: for each trait the value set by
--    the latest identify (time, acceptance) at or before t wins; its
--    conditions are encoded as seq * 4 + bits so that max() picks it.
CREATE OR REPLACE TEMP TABLE timeline AS
WITH rows AS (
    SELECT lead_id, is_anon, t_us, seq, true AS is_message,
        r_repeat_visits, r_product_page, r_app_product_view, r_appointment_page, r_ring_search,
        r_wishlist, r_newsletter_signup, r_catalog_download, r_detailed_inquiry, r_short_inquiry,
        r_appointment_booked, r_high_value_order, r_unsubscribed,
        CASE WHEN NOT is_anon AND f_age_30_50 IS NOT NULL THEN seq * 4 + f_age_30_50::INT * 2 + f_age_25_40::INT END AS c_age,
        CASE WHEN NOT is_anon AND f_affluent IS NOT NULL THEN seq * 4 + f_affluent::INT END AS c_income,
        CASE WHEN NOT is_anon AND f_fashion IS NOT NULL THEN seq * 4 + f_fashion::INT * 2 + f_bridal::INT END AS c_interests,
        CASE WHEN NOT is_anon AND f_social IS NOT NULL THEN seq * 4 + f_social::INT END AS c_social,
        CASE WHEN NOT is_anon AND f_engaged IS NOT NULL THEN seq * 4 + f_engaged::INT END AS c_status
    FROM lead_ev
    UNION ALL
    SELECT lead_id, bool_and(is_anon), epoch_us({{AS_OF}}::TIMESTAMPTZ), NULL, false,
        false, false, false, false, false, false, false, false, false, false, false, false, false,
        NULL, NULL, NULL, NULL, NULL
    FROM lead_ev GROUP BY lead_id
),
weighted AS (
    SELECT *,
        min(t_us) OVER (PARTITION BY lead_id) AS t0,
        -- days since the lead's first event
        (t_us - min(t_us) OVER (PARTITION BY lead_id)) / 86400000000.0 AS d
    FROM rows
),
sums AS (
    SELECT lead_id, is_anon, t_us, is_message,
        -- rule id               points  cap   within  half-life
        -- repeat-visits         5       20    30      30
        sum(CASE WHEN r_repeat_visits THEN 5 * pow(2, d / 30) END) OVER w30 * pow(0.5, d / 30) AS s_repeat_visits,
        -- product-page          3       24    -       30
        sum(CASE WHEN r_product_page THEN 3 * pow(2, d / 30) END) OVER w * pow(0.5, d / 30) AS s_product_page,
        -- app-product-view      3       12    -       30
        sum(CASE WHEN r_app_product_view THEN 3 * pow(2, d / 30) END) OVER w * pow(0.5, d / 30) AS s_app_product_view,
        -- appointment-page      5       10    -       30
        sum(CASE WHEN r_appointment_page THEN 5 * pow(2, d / 30) END) OVER w * pow(0.5, d / 30) AS s_appointment_page,
        -- ring-search           2       6     -       30
        sum(CASE WHEN r_ring_search THEN 2 * pow(2, d / 30) END) OVER w * pow(0.5, d / 30) AS s_ring_search,
        -- wishlist              5       15    -       30
        sum(CASE WHEN r_wishlist THEN 5 * pow(2, d / 30) END) OVER w * pow(0.5, d / 30) AS s_wishlist,
        -- newsletter-signup     5       5     -       30
        sum(CASE WHEN r_newsletter_signup THEN 5 * pow(2, d / 30) END) OVER w * pow(0.5, d / 30) AS s_newsletter_signup,
        -- catalog-download      20      20    -       30
        sum(CASE WHEN r_catalog_download THEN 20 * pow(2, d / 30) END) OVER w * pow(0.5, d / 30) AS s_catalog_download,
        -- detailed-inquiry      30      -     -       30
        sum(CASE WHEN r_detailed_inquiry THEN 30 * pow(2, d / 30) END) OVER w * pow(0.5, d / 30) AS s_detailed_inquiry,
        -- short-inquiry         10      20    -       30
        sum(CASE WHEN r_short_inquiry THEN 10 * pow(2, d / 30) END) OVER w * pow(0.5, d / 30) AS s_short_inquiry,
        -- appointment-booked    40      40    -       14
        sum(CASE WHEN r_appointment_booked THEN 40 * pow(2, d / 14) END) OVER w * pow(0.5, d / 14) AS s_appointment_booked,
        -- high-value-order      15      15    90      30
        sum(CASE WHEN r_high_value_order THEN 15 * pow(2, d / 30) END) OVER w90 * pow(0.5, d / 30) AS s_high_value_order,
        -- unsubscribed          -50     -     -       0 (never decays)
        sum(CASE WHEN r_unsubscribed THEN -50 END) OVER w AS s_unsubscribed,
        max(c_age) OVER w AS c_age,
        max(c_income) OVER w AS c_income,
        max(c_interests) OVER w AS c_interests,
        max(c_social) OVER w AS c_social,
        max(c_status) OVER w AS c_status
    FROM weighted
    WINDOW
        w AS (PARTITION BY lead_id ORDER BY t_us RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
        w30 AS (PARTITION BY lead_id ORDER BY t_us RANGE BETWEEN 2592000000000 PRECEDING AND CURRENT ROW),
        w90 AS (PARTITION BY lead_id ORDER BY t_us RANGE BETWEEN 7776000000000 PRECEDING AND CURRENT ROW)
),
scored AS (
    SELECT lead_id, is_anon, t_us, is_message,
        -- a rule's total with its absolute value capped at max_points
          sign(coalesce(s_repeat_visits, 0)) * least(abs(coalesce(s_repeat_visits, 0)), 20)
        + sign(coalesce(s_product_page, 0)) * least(abs(coalesce(s_product_page, 0)), 24)
        + sign(coalesce(s_app_product_view, 0)) * least(abs(coalesce(s_app_product_view, 0)), 12)
        + sign(coalesce(s_appointment_page, 0)) * least(abs(coalesce(s_appointment_page, 0)), 10)
        + sign(coalesce(s_ring_search, 0)) * least(abs(coalesce(s_ring_search, 0)), 6)
        + sign(coalesce(s_wishlist, 0)) * least(abs(coalesce(s_wishlist, 0)), 15)
        + sign(coalesce(s_newsletter_signup, 0)) * least(abs(coalesce(s_newsletter_signup, 0)), 5)
        + sign(coalesce(s_catalog_download, 0)) * least(abs(coalesce(s_catalog_download, 0)), 20)
        + coalesce(s_detailed_inquiry, 0)
        + sign(coalesce(s_short_inquiry, 0)) * least(abs(coalesce(s_short_inquiry, 0)), 20)
        + sign(coalesce(s_appointment_booked, 0)) * least(abs(coalesce(s_appointment_booked, 0)), 40)
        + sign(coalesce(s_high_value_order, 0)) * least(abs(coalesce(s_high_value_order, 0)), 15)
        + coalesce(s_unsubscribed, 0) AS engagement,
        -- persona affluent-socialite: age 30-50 (25), income >= 150000 (35),
        -- interests high-end fashion / accessories (25), social events (15)
        least(greatest(
              coalesce(c_age // 2 % 2, 0) * 25
            + coalesce(c_income % 2, 0) * 35
            + coalesce(c_interests // 2 % 2, 0) * 25
            + coalesce(c_social % 2, 0) * 15, 0), 100) AS fit_affluent_socialite,
        -- persona bridal-couple: engaged (50), age 25-40 (25), interests bridal / wedding (25)
        least(greatest(
              coalesce(c_status % 2, 0) * 50
            + coalesce(c_age % 2, 0) * 25
            + coalesce(c_interests % 2, 0) * 25, 0), 100) AS fit_bridal_couple
    FROM sums
),
graded AS (
    SELECT *, greatest(fit_affluent_socialite, fit_bridal_couple) AS fit FROM scored
)
SELECT lead_id, t_us, is_message, engagement, fit,
    CASE WHEN fit >= 75 THEN 'A' WHEN fit >= 50 THEN 'B' WHEN fit >= 25 THEN 'C' ELSE 'D' END AS grade,
    -- MQL: engagement >= 60 (1e-9 slack, docs/scoring.md) and grade B or better
    engagement + 1e-9 >= 60 AND fit >= 50 AS is_mql
FROM graded
;
-- 7. One row per lead and anonymous visitor, as of T, sorted by lead_id.
COPY (
    SELECT
        f.lead_id,
        CASE WHEN printf('%.2f', round(f.engagement, 9)) = '-0.00' THEN '0.00'
             ELSE printf('%.2f', round(f.engagement, 9)) END AS engagement,
        f.fit,
        f.grade,
        CASE WHEN f.is_mql THEN 'true' ELSE 'false' END AS mql,
        strftime(make_timestamp(m.mql_at), '%Y-%m-%dT%H:%M:%SZ') AS mql_at  -- NULL: an empty field
    FROM (SELECT * FROM timeline WHERE NOT is_message) f
    LEFT JOIN (SELECT lead_id, min(t_us) AS mql_at FROM timeline WHERE is_message AND is_mql GROUP BY lead_id) m
        USING (lead_id)
    ORDER BY f.lead_id
) TO {{OUTPUT}} (FORMAT csv, HEADER true)
