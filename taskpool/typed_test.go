package taskpool_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gossipsync/gossipsync/taskpool"
)

type resizeReq struct {
	URL   string
	Width int
}

type resizeResp struct{ Bytes int }

func TestTyped(t *testing.T) {
	errTooWide := errors.New("too wide")
	h := taskpool.Typed(func(_ context.Context, r resizeReq) (resizeResp, error) {
		if r.Width > 1000 {
			return resizeResp{}, errTooWide
		}
		return resizeResp{Bytes: len(r.URL) * r.Width}, nil
	})
	payload, err := taskpool.Payload(resizeReq{URL: "abc", Width: 10})
	if err != nil {
		t.Fatal(err)
	}
	out, err := h(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := taskpool.Result[resizeResp](out)
	if err != nil || resp.Bytes != 30 {
		t.Errorf("result %+v, %v; want 30 bytes", resp, err)
	}
	wide, _ := taskpool.Payload(resizeReq{Width: 2000})
	if _, err := h(context.Background(), wide); !errors.Is(err, errTooWide) {
		t.Errorf("handler error: %v; want it as returned", err)
	}
	if _, err := h(context.Background(), []byte{0xc1}); err == nil || !strings.Contains(err.Error(), "payload is not a taskpool_test.resizeReq") {
		t.Errorf("bad payload: %v; want an error naming the type", err)
	}
	if _, err := taskpool.Result[resizeResp]([]byte{0xc1}); err == nil {
		t.Error("bad result: no error")
	}
}
