#!/usr/bin/env bash
# Checks that ops/dynamo-cache.env and the README's options table document exactly the options
# `dynamo-cache serve --help` knows: every DYNAMO_CACHE_* variable of the help is in the env file (once, as VAR=
# or #VAR=) and in the README table, and vice versa; the value shown in the env file equals the help's
# "Default X" where the help gives one, and so does a README default written as one literal (`X`). The help
# spells its defaults from the configuration structs (ServeDefaults in Serve.swift). Starts nothing.
#
#   ops/check-config.sh [BINARY]        default BINARY: .build/debug/dynamo-cache
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-.build/debug/dynamo-cache}"
ENV_FILE="${ENV_FILE:-ops/dynamo-cache.env}"   # overridable, e.g. to check an edited copy

[[ -x $BIN ]] || { echo "check-config: $BIN is not an executable (build it, or pass its path)" >&2; exit 2; }
HELP="$("$BIN" serve --help | tr -s ' \n' '  ')"

mapfile -t help_vars < <(grep -o 'DYNAMO_CACHE_[A-Z0-9_]*' <<<"$HELP" | sort -u)
# Assignment lines, set or commented out: VAR=value or #VAR=value.
mapfile -t file_vars < <(sed -nE 's/^#?(DYNAMO_CACHE_[A-Z0-9_]*)=.*/\1/p' "$ENV_FILE" | sort)
# Any other mention of a variable in the file (prose comments) must also be a known one.
mapfile -t mentioned < <(grep -o 'DYNAMO_CACHE_[A-Z0-9_]*' "$ENV_FILE" | sort -u)

fail=0
(( ${#help_vars[@]} > 0 )) || { echo "check-config: no DYNAMO_CACHE_ variable in '$BIN serve --help'" >&2; exit 1; }
for v in "${help_vars[@]}"; do
  n=$(grep -cx "$v" < <(printf '%s\n' "${file_vars[@]}") || true)
  if (( n == 0 )); then echo "missing from $ENV_FILE: $v"; fail=1
  elif (( n > 1 )); then echo "assigned $n times in $ENV_FILE: $v"; fail=1; fi
done
for v in "${mentioned[@]}"; do
  grep -qx "$v" < <(printf '%s\n' "${help_vars[@]}") || { echo "in $ENV_FILE but not in --help: $v"; fail=1; }
done
for v in "${help_vars[@]}"; do
  # "Env VAR. Default VALUE." (help text re-joined on one line); no literal default ("Default: one per core")
  # means the file must leave the value empty.
  expected=$(grep -oE "Env $v\. Default [^ ]+" <<<"$HELP" | head -1 | sed -E 's/.* Default //; s/\.$//' || true)
  actual=$(sed -nE "s/^#?$v=(.*)/\1/p" "$ENV_FILE" | head -1)
  if [[ $actual != "$expected" ]]; then
    echo "default differs for $v: env file '$actual', --help '${expected:-<none: empty>}'"; fail=1
  fi
done
# The README's options table: | `--flag` | `VAR`[, `VAR2`] | default | what |
README="${README:-README.md}"
mapfile -t readme_rows < <(grep -E '^\| `--[a-z-]+`' "$README")
readme_vars=()
for row in "${readme_rows[@]}"; do
  IFS='|' read -r _ _ vars default _ <<<"$row"
  mapfile -t row_vars < <(grep -o 'DYNAMO_CACHE_[A-Z0-9_]*' <<<"$vars")
  readme_vars+=("${row_vars[@]}")
  literal=$(sed -nE 's/^ *`([^`]+)` *$/\1/p' <<<"$default")
  [[ -n $literal && ${#row_vars[@]} -eq 1 ]] || continue
  expected=$(grep -oE "Env ${row_vars[0]}\. Default [^ ]+" <<<"$HELP" | head -1 | sed -E 's/.* Default //; s/\.$//' || true)
  if [[ $literal != "$expected" ]]; then
    echo "default differs for ${row_vars[0]}: $README '$literal', --help '${expected:-<none>}'"; fail=1
  fi
done
for v in "${help_vars[@]}"; do
  grep -qx "$v" < <(printf '%s\n' "${readme_vars[@]}") || { echo "missing from the $README options table: $v"; fail=1; }
done
for v in "${readme_vars[@]}"; do
  grep -qx "$v" < <(printf '%s\n' "${help_vars[@]}") || { echo "in the $README options table but not in --help: $v"; fail=1; }
done
# Container env-files take values verbatim: no quotes, no inline comments, no spaces.
if grep -nE '^#?DYNAMO_CACHE_[A-Z0-9_]*=.*["'"'"' #]' "$ENV_FILE"; then
  echo "quotes, spaces or inline comments in the values above (not portable to docker --env-file)"; fail=1
fi

if (( fail )); then echo "check-config: FAILED" >&2; exit 1; fi
echo "check-config: OK (${#help_vars[@]} variables, $ENV_FILE and the $README options table match $BIN serve --help)"
