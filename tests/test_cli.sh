#!/usr/bin/env bash
# The pneumo front door: no arguments, unknown commands, `help CMD`, and that
# every command answers --help (exit 0, a usage line on stdout) and refuses an
# unknown option / stray argument with exit 2.
set -u
BIN=${PNEUMO_BIN:-build/pneumo}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

out=$("$BIN" 2>&1 >/dev/null); rc=$?
[ $rc = 2 ] || fail "no arguments: exit $rc, want 2"
echo "$out" | grep -q "usage: pneumo <command>" || fail "no arguments: no usage on stderr"
out=$("$BIN" frobnicate 2>&1 >/dev/null); rc=$?
[ $rc = 2 ] || fail "unknown command: exit $rc, want 2"
echo "$out" | grep -q "unknown command 'frobnicate'" || fail "unknown command not named: $out"
"$BIN" --help | grep -q "usage: pneumo <command>" || fail "pneumo --help"
"$BIN" --version | grep -q "^pneumo [0-9]" || fail "pneumo --version"

# every command in the list
cmds=$("$BIN" --help | sed -n '/^commands:/,$p' | awk 'NR > 1 && NF { print $1 }')
[ "$(echo "$cmds" | wc -w)" -ge 10 ] || fail "command list: $cmds"
for c in $cmds; do
    out=$("$BIN" "$c" --help 2>/dev/null); rc=$?
    [ $rc = 0 ] || fail "$c --help: exit $rc"
    echo "$out" | grep -q "usage: pneumo $c" || fail "$c --help: no 'usage: pneumo $c' line"
    [ "$("$BIN" help "$c" 2>/dev/null)" = "$out" ] || fail "'pneumo help $c' differs from '$c --help'"
    out=$("$BIN" "$c" --no-such-option 2>&1 >/dev/null); rc=$?
    [ $rc = 2 ] || fail "$c --no-such-option: exit $rc, want 2"
    # getopt's own message names the program as the user typed it
    echo "$out" | grep -q "^pneumo $c: unrecognized option '--no-such-option'" ||
        fail "$c --no-such-option: $out"
done
"$BIN" version stray >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "version with an argument: exit $rc, want 2"
"$BIN" help frobnicate >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "help of an unknown command: exit $rc, want 2"

[ $fails = 0 ] && echo "CLI front-door checks passed"
[ $fails = 0 ]
