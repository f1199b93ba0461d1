-- entity_mentions_daily: one row per (canonical, label, day, day_source): how often the entity is
-- mentioned on that day and in how many documents. The day is the document's published_at date
-- (UTC) and day_source 'published'; a document the source gave no publication date counts on
-- its processed_at date with day_source 'processed', which says when docmill read it, not when
-- it was news (a corpus without dates has every mention on the processing day). An entity the
-- tagger could not normalise counts under its surface text, as in `entity_counts`.
-- example: select day, mentions from entity_mentions_daily where canonical = 'Xi Jinping' and day_source = 'published' order by day
with dated_documents as (
    select
        doc_id,
        -- in UTC, so the day does not depend on the client's TimeZone setting
        cast(timezone('UTC', coalesce(published_at, processed_at)) as date) as day,
        case when published_at is null then 'processed' else 'published' end as day_source
    from documents
),

mentions as (
    select
        entities.doc_id,
        coalesce(entities.canonical, entities.text) as canonical,
        entities.label,
        dated_documents.day,
        dated_documents.day_source
    from entities
    inner join dated_documents using (doc_id)
)

select
    canonical,
    label,
    day,
    day_source,
    count(*) as mentions,
    count(distinct doc_id) as documents
from mentions
group by canonical, label, day, day_source
order by day, day_source, mentions desc, canonical, label
