#!/usr/bin/env bash
# koor-hook <client>: a coding agent's command hook (Codex, Copilot CLI, Gemini CLI, Cursor), in
# a few milliseconds. It hands the hook input to the resident helper of `koor-cli hook` over a
# loopback socket (no process started on this path but bash itself) and prints the
# answer. When there is no helper yet, or it refuses, it runs `koor-cli hook <client>` as before,
# which answers and starts the helper for the next call. Never fails the session: exit 0 always.
# The exchange is described in cli/hooks/helper.ts.
shopt -s execfail
client=${1:-}
# The hook input: bash's own read takes a pipe a byte at a time, which beats starting `cat` up to
# a few KiB (most hook inputs); a longer one's rest comes through cat.
IFS= read -r -d '' -n 8192 input
((${#input} < 8192)) || input+=$(cat)
file="${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}}"
file="${file%/}/koor-hook-${UID}-${0//[^A-Za-z0-9]/_}"

fallback() {
  exec koor-cli hook "$client" --helper "$file" <<<"$input"
  echo "koor: hook not delivered (koor-cli is not on PATH); the session goes on" >&2
  exit 0
}

# Only a file of this user's, naming a helper: its port, the key it takes and the proof it gives.
[[ -O $file ]] || fallback
read -r port key proof _ <"$file" 2>/dev/null || fallback
[[ $port =~ ^[0-9]+$ ]] || fallback
{ exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || fallback
printf 'KOOR-HOOK 1 %s\n' "$key" >&3
IFS= read -r -t 2 said <&3 || fallback
[[ $said == "$proof" ]] || fallback
# The request in one write, with no newline in it: bash flushes its output at each newline, and a
# small write after another waits for the first one's acknowledgement on a TCP socket (40 ms).
# Fields are split by US (0x1f): no value here holds one, nor does JSON outside its strings, where
# a newline is only white space (a space does as well).
us=$'\x1f'
request="$client"
for name in PWD HOME XDG_CONFIG_HOME KOOR_SERVER KOOR_TOKEN KOOR_TIMEOUT KOOR_CA_FILE KOOR_INSTANCE \
  KOOR_AGENT_NAME KOOR_PROJECT KOOR_REPO_ROOT CLAUDE_PROJECT_DIR COPILOT_CLI; do
  [[ -n ${!name+set} ]] && request+="$us$name=${!name//[$'\n'$us]/}"
done
printf '%s\0' "$request$us$us${input//$'\n'/ }" >&3
IFS= read -r -d '' -t 8 reply <&3
status=$?
# No answer in time: the session goes on (the helper's own deadline is 5 s, so this is a hang).
if ((status > 128)); then
  echo "koor: hook not delivered (no answer from the hook helper); the session goes on" >&2
  exit 0
fi
[[ $reply == OK$'\n'* ]] || fallback
IFS= read -r -d '' -t 1 notes <&3
exec 3>&-
printf '%s' "${reply#OK$'\n'}"
[[ -n $notes ]] && printf '%s\n' "$notes" >&2
exit 0
