-- trending_entities_over(n_days, window_end := 'latest'): a table macro, not a view. One row per
-- (canonical, label) mentioned in either of two adjacent windows of `n_days` days, counting the
-- mentions of documents with a publication date only (day_source = 'published' in
-- `entity_mentions_daily`): recent = (window_end - n_days, window_end], previous = the n_days
-- before. `window_end` is a date, or 'latest' (the default): the latest publication day present
-- (not today), so the answer depends only on the data. growth = (recent + 1) / (previous + 1).
-- `trending_entities` is `from trending_entities_over(7)`.
-- example: select canonical, label, recent_mentions, previous_mentions from trending_entities_over(30, date '2024-04-30') order by change desc limit 10
with published_daily as (
    select canonical, label, day, mentions
    from entity_mentions_daily
    where day_source = 'published'
),

anchor as (
    select
        cast(n_days as integer) as window_days,
        case
            when cast(window_end as varchar) = 'latest'
                then (select max(day) from published_daily)
            else cast(window_end as date)
        end as window_end
),

windowed as (
    select
        daily.canonical,
        daily.label,
        daily.mentions,
        daily.day > anchor.window_end - anchor.window_days as is_recent
    from published_daily as daily
    cross join anchor
    where daily.day <= anchor.window_end
        and daily.day > anchor.window_end - 2 * anchor.window_days
),

totals as (
    select
        canonical,
        label,
        cast(coalesce(sum(mentions) filter (where is_recent), 0) as bigint) as recent_mentions,
        cast(coalesce(sum(mentions) filter (where not is_recent), 0) as bigint)
            as previous_mentions
    from windowed
    group by canonical, label
)

select
    totals.canonical,
    totals.label,
    totals.recent_mentions,
    totals.previous_mentions,
    totals.recent_mentions - totals.previous_mentions as change,
    cast(totals.recent_mentions + 1 as double) / (totals.previous_mentions + 1) as growth,
    anchor.window_days,
    anchor.window_end
from totals
cross join anchor
order by change desc, growth desc, totals.canonical, totals.label
