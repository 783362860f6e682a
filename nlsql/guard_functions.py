"""The functions a guarded query may call that sqlglot does not know by type.

sqlglot parses the common functions (COUNT, SUBSTRING, DATE_TRUNC, STRFTIME...) into
typed nodes; anything else arrives as an anonymous call. A deny list of dangerous names
always misses one (PostgreSQL's ``ts_stat('<any SQL>')`` runs a query from a string, SQL
Server has hundreds of ``sys.dm_*`` functions), so an unknown function must be on this
list of read-only analytic functions to run. User-defined functions are refused unless
the operator names them in ``ASKDB_ALLOWED_FUNCTIONS``: askdb cannot see what they do.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlglot import exp

_MATH = """
abs acos acosh asin asinh atan atan2 atanh cbrt ceil ceiling cos cosh cot degrees div exp
factorial floor gcd lcm ln log log10 log2 mod pi pow power radians round scale sign sin
sinh sqrt square tan tanh trunc truncate width_bucket random rand
"""
_TEXT = """
ascii btrim char char_length character_length chr concat concat_ws initcap instr left
length lower lpad ltrim md5 octet_length bit_length overlay position repeat replace
reverse right rpad rtrim split_part starts_with strpos substr substring to_hex translate
trim upper unicode soundex difference hex unhex quote quote_literal quote_ident quote_nullable
zeroblob randomblob encode decode sha256 sha224 sha384 sha512 regexp_replace
regexp_matches regexp_match regexp_split_to_array regexp_split_to_table regexp_count
regexp_instr regexp_like regexp_substr similarity word_similarity unaccent format printf to_ascii
"""
_DATES = """
age clock_timestamp current_date current_time current_timestamp date date_add date_bin
date_part date_sub date_trunc datetime extract isfinite julianday justify_days
justify_hours justify_interval localtime localtimestamp make_date make_interval make_time
make_timestamp make_timestamptz now statement_timestamp strftime time timezone
to_char to_date to_number to_timestamp transaction_timestamp unixepoch
"""
_AGGREGATES = """
array_agg avg bit_and bit_or bool_and bool_or corr count covar_pop covar_samp every max
min mode percentile_cont percentile_disc regr_avgx regr_avgy regr_count regr_intercept
regr_r2 regr_slope regr_sxx regr_sxy regr_syy stddev stddev_pop stddev_samp string_agg
sum total variance var_pop var_samp group_concat median json_agg jsonb_agg
json_object_agg jsonb_object_agg json_group_array json_group_object
cume_dist dense_rank first_value lag last_value lead nth_value ntile percent_rank rank
row_number
"""
_STRUCTURED = """
array_append array_cat array_dims array_length array_lower array_ndims array_position
array_positions array_prepend array_remove array_replace array_to_string array_upper
cardinality generate_series generate_subscripts string_to_array unnest
json jsonb json_insert json_replace json_set json_remove json_patch json_error_position
json_pretty json_array json_array_length json_build_array json_build_object json_each
json_each_text json_extract json_extract_path json_extract_path_text json_object
json_object_keys json_quote json_tree json_type json_typeof json_valid jsonb_array_elements
jsonb_array_elements_text jsonb_array_length jsonb_build_array jsonb_build_object
jsonb_each jsonb_each_text jsonb_extract_path jsonb_extract_path_text jsonb_object_keys
jsonb_path_query jsonb_path_query_first jsonb_path_exists jsonb_pretty jsonb_typeof
json_array_elements json_array_elements_text row_to_json to_json to_jsonb array_to_json
to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank
ts_rank_cd ts_headline bm25 highlight snippet offsets matchinfo
"""
_CONDITIONAL = """
coalesce greatest least nullif ifnull iif if choose isnull num_nulls num_nonnulls
likelihood likely unlikely typeof pg_typeof cast try_cast convert try_convert
glob like timediff unistr percentile exists array row overlay
"""
_TSQL = """
str stuff patindex charindex len datalength datefromparts datetimefromparts
datetime2fromparts smalldatetimefromparts timefromparts eomonth datename datepart datediff
datediff_big dateadd datetrunc date_bucket getdate getutcdate sysdatetime sysutcdatetime
sysdatetimeoffset switchoffset todatetimeoffset year month day isnumeric isdate space
replicate nchar string_split parse try_parse count_big stdev stdevp var varp grouping
grouping_id approx_count_distinct json_value json_query openjson isjson newid json_modify
json_path_exists string_escape checksum binary_checksum quotename formatmessage
approx_percentile_cont approx_percentile_disc edit_distance jaro_winkler_similarity
freetext contains containstable freetexttable db_name object_name user_name
"""
# extensions and newer PostgreSQL releases: fuzzystrmatch, pg_trgm, uuid-ossp, XML syntax,
# PostgreSQL 16-17 additions (PostGIS: the ST_ prefix below)
_POSTGRES_EXTRA = """
metaphone dmetaphone dmetaphone_alt levenshtein levenshtein_less_equal soundex difference
similarity show_trgm word_similarity strict_word_similarity uuid_generate_v1
uuid_generate_v4 gen_random_uuid any_value random_normal date_subtract array_sample
array_shuffle xmlelement xmlforest xmlattributes xmlparse xmlserialize xmlroot xmlpi
json_scalar json_serialize
"""
_MYSQL = """
date_format str_to_date timestampdiff timestampadd curdate curtime dayofweek dayofmonth
dayofyear dayname monthname week weekday weekofyear quarter last_day makedate
substring_index locate field find_in_set elt json_unquote json_arrayagg json_objectagg
from_unixtime unix_timestamp
"""

ALLOWED_FUNCTIONS = frozenset(
    " ".join((_MATH, _TEXT, _DATES, _AGGREGATES, _STRUCTURED, _CONDITIONAL, _TSQL,
              _POSTGRES_EXTRA, _MYSQL)).split()
)
ALLOWED_PREFIXES = ("st_",)  # PostGIS's spatial functions: read-only computations
# Schemas a built-in may be called through (``pg_catalog.lower(x)``); any other
# qualifier names a user-defined function, or SQL Server's ``sys`` internals.
BUILTIN_SCHEMAS = frozenset({"pg_catalog"})
# SQL Server's xml methods, called on a column or subquery (``(...).value('.', ...)``).
XML_METHODS = frozenset({"value", "query", "exist", "nodes"})
# SQL Server resolves an unqualified table-valued call to a user function of the default
# schema when it is not one of these built-ins (a scalar call without a schema is always
# a built-in): FROM split(...) may run anyone's code, FROM STRING_SPLIT(...) does not.
TSQL_TABLE_FUNCTIONS = frozenset({"string_split", "openjson", "generate_series"})


def _postgres_builtins() -> frozenset[str]:
    text = (Path(__file__).with_name("postgres_functions.txt")).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


# On PostgreSQL every call is checked by the name PostgreSQL will see, typed or not: a
# name sqlglot knows from another dialect (``search``, ``transform``, ``read_csv``) is
# no built-in there and would call whatever function of that name the database has.
POSTGRES_BUILTINS = _postgres_builtins()


def func_name(node: exp.Func) -> str:
    """A call's name as sqlglot knows it (typed nodes by their canonical SQL name)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


_CALL = re.compile(r'\s*("?)([A-Za-z_][A-Za-z0-9_$]*)"?\s*\(')


def called_name(node: exp.Func, dialect: str) -> tuple[str, bool] | None:
    """The function name the database will see, and whether it is quoted (None when
    the node is written as syntax, not as a call: ``CASE``, ``x::int``, ``INTERVAL``)."""
    match = _CALL.match(node.sql(dialect=dialect))
    return (match.group(2).lower(), bool(match.group(1))) if match else None
