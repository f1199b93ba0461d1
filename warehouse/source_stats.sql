-- source_stats: one row per source, as `source_of(uri, item_url)` names it (the host of a web
-- address, else a record's or a saved web page's own url, else the parent folder of the file): its
-- documents, how many were tagged or are duplicates, its rejected items (by the same rule, from
-- `rejects`), its tokens and entity mentions (from the span views), the range of publication
-- dates and the number of batches that held its documents or rejects.
-- example: select source, documents, rejects, n_tokens, first_published_at, last_published_at from source_stats order by documents desc
with sourced_documents as (
    select
        documents.doc_id,
        documents.batch_id,
        documents.tagged,
        documents.duplicate_of,
        documents.published_at,
        source_of(documents.source_uri, documents.metadata_json ->> 'url') as source,
        doc_stats.n_tokens,
        doc_stats.n_entities
    from documents
    inner join doc_stats using (doc_id)
),

sourced_rejects as (
    select
        batch_id,
        source_of(source_uri, null) as source
    from rejects
),

document_totals as (
    select
        source,
        count(*) as documents,
        count(*) filter (where tagged) as tagged_documents,
        count(duplicate_of) as duplicates,
        cast(sum(n_tokens) as bigint) as n_tokens,
        cast(sum(n_entities) as bigint) as n_entities,
        min(published_at) as first_published_at,
        max(published_at) as last_published_at
    from sourced_documents
    group by source
),

reject_totals as (
    select source, count(*) as rejects
    from sourced_rejects
    group by source
),

batch_totals as (
    select source, count(distinct batch_id) as batches
    from (
        select source, batch_id from sourced_documents
        union all
        select source, batch_id from sourced_rejects
    )
    group by source
)

select
    source,
    coalesce(document_totals.documents, 0) as documents,
    coalesce(document_totals.tagged_documents, 0) as tagged_documents,
    coalesce(document_totals.duplicates, 0) as duplicates,
    coalesce(reject_totals.rejects, 0) as rejects,
    coalesce(document_totals.n_tokens, 0) as n_tokens,
    coalesce(document_totals.n_entities, 0) as n_entities,
    document_totals.first_published_at,
    document_totals.last_published_at,
    batch_totals.batches
from batch_totals
left join document_totals using (source)
left join reject_totals using (source)
order by documents desc, source
