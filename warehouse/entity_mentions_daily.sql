-- entity_mentions_daily: one row per (canonical, label, day): how often the entity is mentioned
-- on that day and in how many documents. The day is the document's published_at date (UTC),
-- or its processed_at date when the source gave no publication date; an entity the tagger could
-- not normalise counts under its surface text, as in `entity_counts`.
-- example: select day, mentions from entity_mentions_daily where canonical = 'Xi Jinping' order by day
with dated_documents as (
    select
        doc_id,
        -- in UTC, so the day does not depend on the client's TimeZone setting
        cast(timezone('UTC', coalesce(published_at, processed_at)) as date) as day
    from documents
),

mentions as (
    select
        entities.doc_id,
        coalesce(entities.canonical, entities.text) as canonical,
        entities.label,
        dated_documents.day
    from entities
    inner join dated_documents using (doc_id)
)

select
    canonical,
    label,
    day,
    count(*) as mentions,
    count(distinct doc_id) as documents
from mentions
group by canonical, label, day
order by day, mentions desc, canonical, label
