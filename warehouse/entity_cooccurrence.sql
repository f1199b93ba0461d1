-- entity_cooccurrence: one row per pair of distinct canonical entities (a < b) mentioned in the
-- same sentence: in how many sentences and documents they co-occur.
-- example: select a, b, sentences from entity_cooccurrence order by sentences desc limit 10
with sentence_entities as (
    select distinct
        doc_id,
        sent_idx,
        coalesce(canonical, text) as canonical,
        label
    from entities
    where sent_idx is not null
),

pairs as (
    select
        left_side.doc_id,
        left_side.sent_idx,
        left_side.canonical as a,
        left_side.label as a_label,
        right_side.canonical as b,
        right_side.label as b_label
    from sentence_entities as left_side
    inner join sentence_entities as right_side
        on left_side.doc_id = right_side.doc_id
        and left_side.sent_idx = right_side.sent_idx
        and left_side.canonical < right_side.canonical
)

select
    a,
    a_label,
    b,
    b_label,
    -- sentence_entities is distinct, so each sentence adds one row per pair
    count(*) as sentences,
    count(distinct doc_id) as documents
from pairs
group by a, a_label, b, b_label
order by sentences desc, a, b
