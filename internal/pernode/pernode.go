// Package pernode keeps one shared value per key, made on the first
// Acquire and torn down when the last holder releases it. election's
// voter and lockmgr's acceptor are such values: every Elector or Manager
// on a node shares the node's one, which serves the node's RPC methods.
package pernode

import "sync"

// Registry maps keys to reference-counted values. The zero value is
// ready to use; it is safe for concurrent use.
type Registry[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*entry[V]
}

type entry[V any] struct {
	v    V
	refs int
}

// Acquire returns key's value, made by create (under the registry's
// lock) if there is none, and counts a reference to it.
func (r *Registry[K, V]) Acquire(key K, create func() V) V {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[key]
	if e == nil {
		if r.m == nil {
			r.m = map[K]*entry[V]{}
		}
		e = &entry[V]{v: create()}
		r.m[key] = e
	}
	e.refs++
	return e.v
}

// Release drops a reference to key's value; the last one removes it and
// passes it to destroy (under the registry's lock), so that a later
// Acquire makes a new one. Releasing a key that holds no value does
// nothing.
func (r *Registry[K, V]) Release(key K, destroy func(V)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[key]
	if e == nil {
		return
	}
	if e.refs--; e.refs > 0 {
		return
	}
	delete(r.m, key)
	destroy(e.v)
}
