package endtoend_test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// parleyBin is the binary under test, built once by TestMain and only
// read afterwards.
var parleyBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "parley-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "endtoend: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	parleyBin = filepath.Join(dir, "parley")
	args := []string{"build", "-o", parleyBin}
	if raceEnabled {
		// The node and the CLI are exercised here more than anywhere else:
		// when the tests run with -race, so does the binary under test.
		args = append(args, "-race")
	}
	args = append(args, "./cmd/parley")
	start := time.Now()
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = ".." // the module root; go test runs in the package directory
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "endtoend: go %v: %v\n", args, err)
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "endtoend: built %s (race=%v) in %s\n", parleyBin, raceEnabled, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}

// goTool finds the go command that runs this test, preferring GOROOT's.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
