-- lemma_counts: one row per (lemma, pos) of a content word: how many tokens have it and in how
-- many documents. Content words are nouns, proper nouns, verbs, adjectives and adverbs that are
-- neither stop words nor punctuation and whose lemma holds a letter. Lemmas are lower-cased
-- except proper nouns ('Seoul' stays, 'Said' at a sentence start counts as 'said').
-- example: select lemma, occurrences, documents from lemma_counts where pos = 'VERB' order by occurrences desc limit 10
with content_words as (
    select
        doc_id,
        case when pos = 'PROPN' then lemma else lower(lemma) end as lemma,
        pos
    from tokens
    where pos in ('NOUN', 'PROPN', 'VERB', 'ADJ', 'ADV')
        and not coalesce(is_stop, false)
        and not coalesce(is_punct, false)
        and regexp_matches(lemma, '\pL')
)

select
    lemma,
    pos,
    count(*) as occurrences,
    count(distinct doc_id) as documents
from content_words
group by lemma, pos
order by occurrences desc, lemma, pos
