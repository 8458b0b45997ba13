package crilog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"
)

// DefaultMaxJoinedSize bounds a line that a Reader joins from P entries.
const DefaultMaxJoinedSize = 1024 * 1024

// Line is a line of one stream, joined from its P entries and final F entry.
type Line struct {
	// Time is the time of the line's first entry.
	Time time.Time
	// Stream is Stdout or Stderr.
	Stream Stream
	// Content is the line without its line break.
	Content []byte
	// Partial is true when the line did not end with an F entry: the log
	// ended first, or the line grew beyond the Reader's MaxJoinedSize.
	Partial bool
}

// ParseError is returned by Reader.Next for an entry it could not parse; the
// Reader skips it and Next may be called again.
type ParseError struct {
	// Offset is the byte offset of the entry in the log.
	Offset int64
	// Err wraps ErrMalformed.
	Err error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("log entry at offset %d: %v", e.Offset, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Reader reads a CRI log and joins each stream's P entries with the F entry
// that ends them. Stdout and stderr entries may interleave.
type Reader struct {
	// MaxJoinedSize bounds a joined line; a longer one is returned in
	// pieces marked Partial. DefaultMaxJoinedSize if not positive.
	MaxJoinedSize int
	// Follow keeps unfinished lines at io.EOF, for a caller that waits for
	// the log to grow and calls Next again. Without it, Next returns them,
	// marked Partial, before io.EOF.
	Follow bool

	r       *bufio.Reader
	offset  int64
	entry   []byte // an entry read only in part, waiting for its '\n'
	pending [2]*Line
	order   []Stream // streams with a pending line, first started first
}

// NewReader returns a Reader of the CRI log in r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64*1024)}
}

// Next returns the next complete line. It returns io.EOF at the end of the
// log, or a *ParseError for an entry it skipped. The returned Content is
// valid until the next call.
func (r *Reader) Next() (Line, error) {
	for {
		raw, err := r.readEntry()
		if errors.Is(err, io.EOF) {
			if l, ok := r.flush(); ok {
				return l, nil
			}
			return Line{}, io.EOF
		}
		if err != nil {
			return Line{}, fmt.Errorf("read log: %w", err)
		}
		start := r.offset - int64(len(raw))
		e, err := Parse(raw)
		if err != nil {
			return Line{}, &ParseError{Offset: start, Err: err}
		}
		if l, ok := r.add(e); ok {
			return l, nil
		}
	}
}

// readEntry returns the next whole entry, including its '\n' (or the log's
// unterminated last entry unless Follow is set).
func (r *Reader) readEntry() ([]byte, error) {
	for {
		chunk, err := r.r.ReadSlice('\n')
		r.offset += int64(len(chunk))
		if err == nil && len(r.entry) == 0 {
			return chunk, nil
		}
		r.entry = append(r.entry, chunk...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil:
		case errors.Is(err, io.EOF) && !r.Follow && len(r.entry) > 0:
		default:
			return nil, err
		}
		raw := r.entry
		r.entry = r.entry[:0]
		return raw, nil
	}
}

func streamIndex(s Stream) int {
	if s == Stderr {
		return 1
	}
	return 0
}

// add adds an entry to its stream's pending line and returns the line when
// it is complete.
func (r *Reader) add(e Entry) (Line, bool) {
	max := r.MaxJoinedSize
	if max <= 0 {
		max = DefaultMaxJoinedSize
	}
	i := streamIndex(e.Stream)
	p := r.pending[i]
	if p == nil {
		if !e.Partial {
			return Line{Time: e.Time, Stream: e.Stream, Content: e.Content}, true
		}
		p = &Line{Time: e.Time, Stream: e.Stream}
		r.pending[i] = p
		r.order = append(r.order, e.Stream)
	}
	p.Content = append(p.Content, e.Content...)
	if e.Partial && len(p.Content) < max {
		return Line{}, false
	}
	r.drop(e.Stream)
	p.Partial = e.Partial
	return *p, true
}

// flush returns the oldest pending line, unless Follow is set.
func (r *Reader) flush() (Line, bool) {
	if r.Follow || len(r.order) == 0 {
		return Line{}, false
	}
	s := r.order[0]
	p := r.pending[streamIndex(s)]
	r.drop(s)
	p.Partial = true
	return *p, true
}

func (r *Reader) drop(s Stream) {
	r.pending[streamIndex(s)] = nil
	for i, o := range r.order {
		if o == s {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
}
