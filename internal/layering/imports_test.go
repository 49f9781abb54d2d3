package layering

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// importClass orders the groups of an import block: the standard
// library, then other modules, then this module.
func importClass(path string) int {
	switch {
	case strings.HasPrefix(path, module) || path+"/" == module:
		return 2
	case strings.Contains(strings.Split(path, "/")[0], "."):
		return 1
	}
	return 0
}

// Every Go file of the repository (tests and the bench module too)
// groups its imports as goimports -local does: the standard library,
// other modules, this module, each group apart (a blank line between),
// in that order.
func TestImportGroups(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for i := 1; i < len(f.Imports); i++ {
			prev, cur := f.Imports[i-1], f.Imports[i]
			pc, cc := importClass(strings.Trim(prev.Path.Value, `"`)), importClass(strings.Trim(cur.Path.Value, `"`))
			apart := fset.Position(cur.Pos()).Line-fset.Position(prev.End()).Line > 1
			switch {
			case cc < pc:
				t.Errorf("%s: import %s after %s: want the standard library, other modules, then this module", rel, cur.Path.Value, prev.Path.Value)
			case cc > pc && !apart:
				t.Errorf("%s: import %s in the group of %s: want a blank line between the groups", rel, cur.Path.Value, prev.Path.Value)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
