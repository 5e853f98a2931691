//go:build race

package main

// raceEnabled: the race detector is on. Processes of this test binary (the
// conversion workers too) then use several times the memory they do
// without it, which memory limits in tests must allow for.
const raceEnabled = true
