# Shared by recipes/micro/run.sh and ablation.sh (sourced after they cd to the repo root).

# log_time <stage> <seconds>: append "stage<TAB>seconds<TAB>UTC time" to $WALLTIMES, once
# per stage. A rerun that finds a stage already finished (its resume is a no-op) does not
# log it again, so each stage's one line is its real wall time.
log_time() {
  grep -q "^$1"$'\t' "$WALLTIMES" 2>/dev/null && return 0
  printf '%s\t%s\t%s\n' "$1" "$2" "$(date -u +%FT%TZ)" >> "$WALLTIMES"
}
