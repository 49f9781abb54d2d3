// Package errtext keeps a package's name once in the text of its
// errors: a package's errors start with its name ("lockmgr: "), so an
// error that wraps another of the same package would read
// "lockmgr: acquire "x": lockmgr: wait timed out". Errorf drops the
// inner ones from the text; errors.Is and errors.As still see every
// error wrapped.
package errtext

import (
	"fmt"
	"strings"
)

// Errorf is fmt.Errorf, but every ": "+prefix inside the message (a
// wrapped error of the same package) reads ": ".
func Errorf(prefix, format string, a ...any) error {
	err := fmt.Errorf(format, a...)
	msg := err.Error()
	if !strings.Contains(msg, ": "+prefix) {
		return err
	}
	return &wrapped{msg: strings.ReplaceAll(msg, ": "+prefix, ": "), err: err}
}

// wrapped is err with its text shortened.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }

func (w *wrapped) Unwrap() error { return w.err }
