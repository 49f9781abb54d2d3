package raftgroup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/gossipsync/gossipsync/internal/raftgroup"
)

// kv is a replicated map: "key=value" sets a key and returns its old value.
type kv struct {
	mu sync.Mutex // protects m
	m  map[string]string
}

func (s *kv) Apply(_ uint64, data []byte) any {
	k, v, _ := strings.Cut(string(data), "=")
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m[k]
	s.m[k] = v
	return old
}

func (s *kv) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(s.m)
}

func (s *kv) Restore(data []byte) error {
	m := map[string]string{}
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = m
	return nil
}

// alone is the transport of a group of one: there is no one to send to.
type alone struct{}

func (alone) Send([]*raftpb.Message) {}

// A group of one voter (development only: it survives nothing) elects
// itself after an election timeout; Follow says when.
func Example() {
	g, err := raftgroup.Start(raftgroup.Config{
		ID:           1,
		Voters:       []uint64{1},
		Transport:    alone{},
		StateMachine: &kv{m: map[string]string{}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for l := range g.Follow(ctx) {
		if l.ID == g.ID() {
			break
		}
	}
	for _, cmd := range []string{"color=red", "color=blue"} {
		index, old, err := g.Propose(ctx, []byte(cmd))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s applied at %d, old value %q\n", cmd, index, old)
	}
	// Output:
	// color=red applied at 3, old value ""
	// color=blue applied at 4, old value "red"
}
