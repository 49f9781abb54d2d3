package taskpool

import (
	"context"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Typed adapts a function of typed values to a Handler: the payload is
// decoded into In and the result encoded from Out, both as msgpack (the
// wire's encoding; exported fields, by name). A payload that does not
// decode fails the attempt with an error that says so, without calling
// f. Build payloads with Payload and read results with Result:
//
//	pool.Register("resize", taskpool.Typed(func(ctx context.Context, r ResizeReq) (ResizeResp, error) { ... }))
//	payload, _ := taskpool.Payload(ResizeReq{URL: u, Width: 200})
//	out, err := pool.Run(ctx, taskpool.Command{Name: "resize", Payload: payload})
//	resp, err := taskpool.Result[ResizeResp](out)
func Typed[In, Out any](f func(ctx context.Context, in In) (Out, error)) Handler {
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		var in In
		if err := msgpack.Unmarshal(payload, &in); err != nil {
			return nil, fmt.Errorf("taskpool: payload is not a %T: %w", in, err)
		}
		out, err := f(ctx, in)
		if err != nil {
			return nil, err
		}
		b, err := msgpack.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("taskpool: result %T: %w", out, err)
		}
		return b, nil
	}
}

// Payload encodes v as the payload of a Command for a Typed handler.
func Payload(v any) ([]byte, error) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("taskpool: payload %T: %w", v, err)
	}
	return b, nil
}

// Result decodes the result of a Typed handler.
func Result[Out any](b []byte) (Out, error) {
	var out Out
	if err := msgpack.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("taskpool: result is not a %T: %w", out, err)
	}
	return out, nil
}
