-- source_of(uri, item_url): a scalar macro, not a view. The source a document or rejected item
-- came from, the key of `source_stats`. In order: the host of an http(s) `uri`; else the item's
-- own address (`item_url`: the `url` or `source` field of a JSONL or CSV record, or the address
-- an HTML page gives itself in <link rel=canonical>, og:url or <base href>, kept as `url` in
-- documents.metadata_json): its host when it is an http(s) URL, else its text, as a name like
-- 'Reuters'; else, for a file:// URI or a path, the name of the file's parent folder (the BBC
-- corpus: business, sport, ...); else '(unknown)'. Hosts and names are lower-case, hosts
-- without a leading `www.`. The record's own address comes before its file's folder because a
-- feed file's folder says where it was saved, not where its items came from. A rejected item
-- has no record fields, so a rejected JSONL line counts under its file's folder.
-- example: select source_of(source_uri, metadata_json ->> 'url') as source, count(*) from documents group by all order by 2 desc
coalesce(
    nullif(
        regexp_replace(
            lower(
                regexp_extract(
                    case
                        when regexp_matches(uri, '(?i)^https?://') then uri
                        when regexp_matches(item_url, '(?i)^https?://') then item_url
                    end,
                    '^[^:]+://(?:[^@/?#]*@)?([^/:?#]*)',
                    1
                )
            ),
            '^www\.',
            ''
        ),
        ''
    ),
    case
        when not contains(item_url, '://') then nullif(lower(trim(item_url)), '')
    end,
    nullif(
        (
            -- the last folder name before the file name, without scheme, query or fragment
            case
                when regexp_matches(uri, '(?i)^file:') then url_decode(
                    regexp_extract(regexp_replace(uri, '[?#].*$', ''), '([^/]+)/[^/]*$', 1)
                )
                else regexp_extract(replace(uri, '\', '/'), '([^/]+)/[^/]*$', 1)
            end
        ),
        ''
    ),
    '(unknown)'
)
