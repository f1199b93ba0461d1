-- shown_spans(table_name): a table macro, not a view. The rows of one stored span table
-- (paragraphs, sentences, tokens, entities, noun_chunks, cleaning) that belong to the document
-- versions `documents` shows (same doc_id and batch), so re-processed documents appear once.
-- Each span view is `select * from shown_spans('<table>')`.
with shown as (
    select doc_id, batch_id, batch_snapshot
    from documents
)

select
    stored_rows.*,
    shown.batch_snapshot
from query_table('stored.' || table_name) as stored_rows
inner join shown
    on stored_rows.doc_id = shown.doc_id
    and stored_rows.batch_id = shown.batch_id
