//go:build race

package endtoend_test

// raceEnabled: the test binary was built with -race, so the parley binary
// under test is built with -race too.
const raceEnabled = true
