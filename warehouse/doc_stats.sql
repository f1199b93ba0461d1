-- doc_stats: one row per document (as shown in `documents`): span counts and reporting ratios.
-- Counts come from the span views, so they agree with what analysts can query there.
-- example: select doc_id, tokens_per_sentence, entity_density from doc_stats
with paragraph_counts as (
    select doc_id, count(*) as n_paragraphs
    from paragraphs
    group by doc_id
),

sentence_counts as (
    select doc_id, count(*) as n_sentences
    from sentences
    group by doc_id
),

token_counts as (
    select
        doc_id,
        count(*) as n_tokens,
        count(*) filter (where is_stop) as n_stop,
        count(*) filter (where is_punct) as n_punct
    from tokens
    group by doc_id
),

entity_counts_per_doc as (
    select doc_id, count(*) as n_entities
    from entities
    group by doc_id
),

joined as (
    select
        documents.doc_id,
        documents.batch_id,
        documents.lang,
        documents.duplicate_of,
        documents.n_chars,
        coalesce(paragraph_counts.n_paragraphs, 0) as n_paragraphs,
        coalesce(sentence_counts.n_sentences, 0) as n_sentences,
        coalesce(token_counts.n_tokens, 0) as n_tokens,
        coalesce(entity_counts_per_doc.n_entities, 0) as n_entities,
        coalesce(token_counts.n_stop, 0) as n_stop,
        coalesce(token_counts.n_punct, 0) as n_punct
    from documents
    left join paragraph_counts using (doc_id)
    left join sentence_counts using (doc_id)
    left join token_counts using (doc_id)
    left join entity_counts_per_doc using (doc_id)
)

select
    doc_id,
    batch_id,
    lang,
    duplicate_of,
    n_chars,
    n_paragraphs,
    n_sentences,
    n_tokens,
    n_entities,
    n_tokens / nullif(n_sentences, 0) as tokens_per_sentence,
    100.0 * n_entities / nullif(n_tokens, 0) as entity_density,
    n_stop / nullif(n_tokens, 0) as stop_word_share,
    n_punct / nullif(n_tokens, 0) as punct_share
from joined
