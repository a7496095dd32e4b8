# Shared by recipes/micro/run.sh and ablation.sh (sourced after they cd to the repo root).

# log_time <stage> <seconds>: append "stage<TAB>seconds<TAB>UTC time" to $WALLTIMES, once
# per stage. A rerun that finds a stage already finished (its resume is a no-op) does not
# log it again, so each stage's one line is its real wall time.
log_time() {
  grep -q "^$1"$'\t' "$WALLTIMES" 2>/dev/null && return 0
  printf '%s\t%s\t%s\n' "$1" "$2" "$(date -u +%FT%TZ)" >> "$WALLTIMES"
}

# stage_seconds <train_log.jsonl> <fallback>: the stage's own training clock, i.e. the
# `wall_s` of its last log line, which `regionreasoner micro train` carries across
# resumes. A stage that ran over several invocations (sessions) would otherwise log only
# its last invocation.
stage_seconds() {
  local s
  s=$(tail -n 1 "$1" 2>/dev/null | grep -o '"wall_s": [0-9.]*' | grep -o '[0-9][0-9]*' | head -n 1)
  printf '%s\n' "${s:-$2}"
}
