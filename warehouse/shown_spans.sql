-- shown_spans(table_name): a table macro, not a view. The rows of one span table (paragraphs,
-- sentences, tokens, entities, noun_chunks) that belong to the document versions `documents`
-- shows (same doc_id, batch and version), so superseded versions and re-processed documents
-- vanish. Each span view is `select * from shown_spans('<table>')`.
with shown as (
    select doc_id, batch_id, batch_version
    from documents
)

select
    stored.* exclude (batch, version),
    stored.batch as batch_id,
    stored.version as batch_version
from query_table('lake.' || table_name) as stored
semi join shown
    on stored.doc_id = shown.doc_id
    and stored.batch = shown.batch_id
    and stored.version = shown.batch_version
