-- entity_cooccurrence_documents: one row per pair of distinct canonical entities (a < b)
-- mentioned anywhere in the same document: in how many documents they co-occur. The sentence
-- level pairs are in `entity_cooccurrence`.
-- example: select a, b, documents from entity_cooccurrence_documents where a = 'China' or b = 'China' order by documents desc limit 10
with document_entities as (
    select distinct
        doc_id,
        coalesce(canonical, text) as canonical,
        label
    from entities
),

pairs as (
    select
        left_side.doc_id,
        left_side.canonical as a,
        left_side.label as a_label,
        right_side.canonical as b,
        right_side.label as b_label
    from document_entities as left_side
    inner join document_entities as right_side
        on left_side.doc_id = right_side.doc_id
        and left_side.canonical < right_side.canonical
)

select
    a,
    a_label,
    b,
    b_label,
    -- document_entities is distinct, so each document adds one row per pair
    count(*) as documents
from pairs
group by a, a_label, b, b_label
order by documents desc, a, a_label, b, b_label
