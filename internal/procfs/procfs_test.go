package procfs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadFields(t *testing.T) {
	p := filepath.Join(t.TempDir(), "status")
	text := "Name:\tparley\nThreads:\t11\nVmRSS:\t  120568 kB\nbroken line\nMemTotal: x kB\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFields(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Field{"Threads": {11, ""}, "VmRSS": {120568, "kB"}}
	if len(got) != len(want) {
		t.Fatalf("ReadFields = %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %+v, want %+v", k, got[k], w)
		}
	}
	if _, err := ReadFields(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file read without error")
	}
}
