-- duplicates: one row per member of a duplicate cluster: the kept document (kind 'kept') and
-- every document that repeats it (kind 'exact' or 'near', with the estimated Jaccard
-- similarity). cluster_id is the kept document's doc_id; it may belong to an earlier batch.
-- example: select cluster_id, cluster_size, kind, similarity, title from duplicates order by cluster_size desc
with repeats as (
    select
        duplicate_of as cluster_id,
        doc_id,
        duplicate_kind as kind,
        duplicate_similarity as similarity
    from documents
    where duplicate_of is not null
),

kept as (
    select distinct
        cluster_id,
        cluster_id as doc_id,
        'kept' as kind,
        cast(1.0 as float) as similarity
    from repeats
),

members as (
    select * from kept
    union all
    select * from repeats
)

select
    members.cluster_id,
    count(*) over (partition by members.cluster_id) as cluster_size,
    members.doc_id,
    members.kind,
    members.similarity,
    documents.batch_id,
    documents.title,
    documents.source_uri
from members
left join documents on documents.doc_id = members.doc_id
