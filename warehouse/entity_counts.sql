-- entity_counts: one row per (canonical, label): how often it is mentioned and in how many
-- documents.
-- example: select * from entity_counts order by mentions desc limit 10
with mentions as (
    select
        doc_id,
        -- an entity the tagger could not normalise still counts, under its surface text
        coalesce(canonical, text) as canonical,
        label
    from entities
)

select
    canonical,
    label,
    count(*) as mentions,
    count(distinct doc_id) as documents
from mentions
group by canonical, label
order by mentions desc, canonical, label
