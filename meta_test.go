// Package parley_test holds meta-tests that keep the repository honest:
// every package documents itself exactly once, the SDK core stays free of the
// node and of OS-only code so it builds for the browser, and the wasm build
// itself works.
package parley_test

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryPackageHasOneDoc walks the tree and checks that each Go package
// (generated code aside) has exactly one file carrying a package comment.
func TestEveryPackageHasOneDoc(t *testing.T) {
	docs := map[string][]string{} // dir → files with a package doc
	pkgs := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if name == "testdata" || name == "node_modules" || (strings.HasPrefix(name, ".") && path != ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		pkgs[dir] = true
		if f.Doc != nil && !strings.HasSuffix(path, ".pb.go") {
			docs[dir] = append(docs[dir], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range pkgs {
		switch n := len(docs[dir]); {
		case n == 0:
			t.Errorf("package in %s has no package doc comment (add a doc.go)", dir)
		case n > 1:
			t.Errorf("package in %s has %d package doc comments, want 1: %v", dir, n, docs[dir])
		}
	}
}

// forbiddenInSDK are imports that would tie the SDK core to the node, to a
// disk engine or to the OS, and so break the browser build.
var forbiddenInSDK = []string{
	"github.com/parley-im/parley/server",
	"github.com/parley-im/parley/store",
	"github.com/cockroachdb/pebble",
	"os/exec",
	"os/signal",
	"golang.org/x/term",
}

// TestSDKCoreDependencies checks the transitive imports of the SDK core and
// the crypto core.
func TestSDKCoreDependencies(t *testing.T) {
	for _, pkg := range []string{"./client", "./e2e", "./protocol/..."} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range forbiddenInSDK {
				if dep == bad || strings.HasPrefix(dep, bad+"/") {
					t.Errorf("%s depends on %s; keep it behind an interface", pkg, dep)
				}
			}
		}
	}
}

// TestWasmBuild builds the SDK and the crypto core for the browser.
func TestWasmBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("wasm build takes a while; run without -short")
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, "./client", "./e2e/...", "./protocol/...")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go build: %v\n%s", err, out)
	}
}
