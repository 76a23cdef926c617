package s3vfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/wharfftp/wharf/internal/vfs"
)

// The upload loop.
//
// STOR streams into part buffers: a part is sent (UploadPart) as soon as
// it is full, while the next one fills, so an upload holds at most two
// part buffers: 16 MiB for its first 3.9 GiB. Part sizes grow with the
// part number (8 MiB for parts 1-500, doubling every 500 parts up to
// 1 GiB from part 3,501), so 10,000 parts hold 6.8 TiB, past S3's 5 TiB
// object limit; the memory of a single upload is therefore at most 2 GiB,
// for a file beyond a terabyte. The buffers of all uploads of a Bucket
// together stay under Options.PartMemory: an upload waits for room.
// Nothing is staged on local disk.
//
// A file smaller than its first part is one PutObject at Commit; a bigger
// one is a multipart upload completed by Commit. Either way the object
// appears only then: readers see the old object or the new one. A
// NoReplace commit sends If-None-Match: *, so of two uploads creating the
// same name one wins and the other gets ErrExist.
//
// A resume (REST+STOR, APPE) builds the new object from the kept bytes of
// the old one and the new data: kept bytes past 5 MiB are server-side
// copies (UploadPartCopy, 4 GiB a part), fewer are read back into the
// first part (S3's smallest part is 5 MiB). The SHA-256 of the file is
// computed while uploading and stored with its hash state (see sums.go),
// so a resume at the end continues it without reading the object.

const firstPartSize = 8 << 20

// partSize is the size of part number num (1-based).
func partSize(num int32) int64 {
	return firstPartSize << min((num-1)/500, 7)
}

// Create implements vfs.Storage.
func (f *FS) Create(ctx context.Context, name string, o vfs.CreateOptions) (vfs.Upload, error) {
	key, err := f.key(name)
	if err != nil {
		return nil, err
	}
	if name == "." {
		return nil, vfs.WithKind(vfs.ErrIsDir, &fs.PathError{Op: "create", Path: name, Err: errors.New("is a folder")})
	}
	if dir := path.Dir(name); dir != "." {
		pfi, err := f.stat(ctx, dir)
		if err != nil {
			return nil, err
		}
		if !pfi.dir {
			return nil, vfs.WithKind(vfs.ErrNotDir, &fs.PathError{Op: "create", Path: name, Err: errors.New("parent is a file")})
		}
	}
	u := &upload{f: f, key: key, name: name, o: o, ctx: context.WithoutCancel(ctx), h: sha256.New(), num: 1}
	if !o.Resume {
		if o.Offset != 0 {
			return nil, errors.New("s3vfs: an offset without Resume")
		}
		if fi, err := f.stat(ctx, name); err == nil && fi.dir {
			return nil, vfs.WithKind(vfs.ErrIsDir, &fs.PathError{Op: "create", Path: name, Err: errors.New("is a folder")})
		}
		return u, nil
	}
	fi, _, err := f.statFile(ctx, "create", name)
	if err != nil {
		return nil, err
	}
	if o.Offset < 0 || o.Offset > fi.size {
		return nil, &fs.PathError{Op: "seek", Path: name, Err: fs.ErrInvalid}
	}
	if err := u.keep(ctx, fi); err != nil {
		u.Abandon(ctx)
		return nil, err
	}
	return u, nil
}

// upload is one file being written (see the top of the file).
type upload struct {
	f    *FS
	key  string
	name string
	o    vfs.CreateOptions
	ctx  context.Context // the parts': not cancelled with the transfer
	h    hash.Hash       // SHA-256 of the whole file so far
	size int64           // bytes of the file so far (kept and written)

	uploadID *string // nil until the multipart upload is needed
	parts    []types.CompletedPart
	num      int32  // number of the part buf will be
	buf      []byte // the part being filled
	bufRes   int64  // bytes of the pool buf holds (0: none yet)
	fly      *part  // the part being sent, if any
	failed   *part  // a part that failed to send: retried at Commit
	done     bool
}

// part is a full buffer on its way.
type part struct {
	num  int32
	data []byte
	res  int64
	done chan struct{}
	etag *string
	err  error
}

// keep sets up a resume: the kept bytes of fi, their hash.
func (u *upload) keep(ctx context.Context, fi *fileInfo) error {
	off := u.o.Offset
	u.size = off
	stateOK := false
	if s, ok := u.f.loadSum(ctx, u.key, fi.etag); ok && s.Size == off {
		stateOK = u.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.State) == nil
		if !stateOK {
			u.h.Reset()
		}
	}
	if off == 0 {
		return nil
	}
	if off < minPart {
		// Too few for a part of their own: read back into the first part.
		if err := u.reserve(); err != nil {
			return err
		}
		b, err := u.f.readRange(ctx, u.key, fi.etag, 0, off)
		if err != nil {
			return err
		}
		u.grow(len(b))
		u.buf = append(u.buf, b...)
		if !stateOK {
			u.h.Write(b)
		}
		return nil
	}
	if !stateOK {
		// The hash of the kept bytes is read, not the bytes re-sent.
		if err := u.f.hashRange(ctx, u.h, u.key, fi.etag, 0, off); err != nil {
			return err
		}
	}
	if err := u.begin(ctx); err != nil {
		return err
	}
	parts, err := u.f.copyParts(ctx, u.key, fi.etag, u.key, u.uploadID, 0, off, u.num)
	if err != nil {
		return err
	}
	u.parts = append(u.parts, parts...)
	u.num += int32(len(parts))
	return nil
}

// readRange reads [lo, hi) of an object.
func (f *FS) readRange(ctx context.Context, key, etag string, lo, hi int64) ([]byte, error) {
	var b bytes.Buffer
	if err := f.copyRange(ctx, &b, key, etag, lo, hi); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (f *FS) hashRange(ctx context.Context, h hash.Hash, key, etag string, lo, hi int64) error {
	return f.copyRange(ctx, h, key, etag, lo, hi)
}

func (f *FS) copyRange(ctx context.Context, w io.Writer, key, etag string, lo, hi int64) error {
	if hi <= lo {
		return nil
	}
	in := &s3.GetObjectInput{Bucket: &f.b.bucket, Key: &key, Range: aws.String(fmt.Sprintf("bytes=%d-%d", lo, hi-1))}
	if etag != "" {
		in.IfMatch = aws.String(etag)
	}
	out, err := f.b.client.GetObject(ctx, in)
	if err != nil {
		return mapErr(err)
	}
	defer out.Body.Close()
	n, err := io.Copy(w, out.Body)
	if err == nil && n != hi-lo {
		err = io.ErrUnexpectedEOF
	}
	return mapErr(err)
}

// begin starts the multipart upload.
func (u *upload) begin(ctx context.Context) error {
	if u.uploadID != nil {
		return nil
	}
	id, err := u.f.b.createMultipart(ctx, &s3.CreateMultipartUploadInput{Bucket: &u.f.b.bucket, Key: &u.key})
	if err != nil {
		return err
	}
	u.uploadID = id
	return nil
}

// reserve takes room in the pool for the part buf will be.
func (u *upload) reserve() error {
	if u.bufRes > 0 {
		return nil
	}
	n := partSize(u.num)
	if err := u.f.b.pool.acquire(u.ctx, n); err != nil {
		return err
	}
	u.bufRes = n
	if u.num > 1 {
		// A big upload: the next part will fill.
		u.grow(int(n))
	}
	return nil
}

// smallFirst is the buffer a first part starts with, so a small file
// holds little; one that grows past it takes a whole part.
const smallFirst = 256 << 10

// grow makes room for n more bytes in the part buffer, within bufRes: a
// first part starts at smallFirst, and past that the buffer is a whole
// part, first-size ones from the Bucket's pool, so an upload neither
// copies its buffer while it doubles nor allocates a part per part.
func (u *upload) grow(n int) {
	if cap(u.buf)-len(u.buf) >= n {
		return
	}
	var nb []byte
	switch {
	case len(u.buf)+n <= smallFirst:
		nb = make([]byte, 0, smallFirst)
	case u.bufRes == firstPartSize:
		nb = u.f.b.getBuf()
	default:
		nb = make([]byte, 0, u.bufRes)
	}
	u.buf = append(nb, u.buf...)
}

func (u *upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, errors.New("s3vfs: write after the upload ended")
	}
	var n int
	for len(p) > 0 {
		if err := u.reserve(); err != nil {
			return n, err
		}
		take := min(int(u.bufRes)-len(u.buf), len(p))
		u.grow(take)
		u.buf = append(u.buf, p[:take]...)
		u.h.Write(p[:take])
		u.size += int64(take)
		n += take
		p = p[take:]
		if int64(len(u.buf)) == u.bufRes {
			if err := u.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush sends the full buffer, once the part before it is through.
func (u *upload) flush() error {
	if err := u.wait(); err != nil {
		return err
	}
	if u.num > maxParts {
		return vfs.WithKind(vfs.ErrNoSpace, errors.New("s3vfs: the file is past the 10,000 parts of a multipart upload"))
	}
	if err := u.begin(u.ctx); err != nil {
		return err
	}
	p := &part{num: u.num, data: u.buf, res: u.bufRes, done: make(chan struct{})}
	u.buf, u.bufRes = nil, 0
	u.num++
	u.fly = p
	go func() {
		defer close(p.done)
		p.etag, p.err = u.sendPart(u.ctx, p)
	}()
	return nil
}

func (u *upload) sendPart(ctx context.Context, p *part) (*string, error) {
	out, err := u.f.b.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &u.f.b.bucket, Key: &u.key, UploadId: u.uploadID,
		PartNumber: aws.Int32(p.num), Body: bytes.NewReader(p.data), ContentLength: aws.Int64(int64(len(p.data)))})
	if err != nil {
		return nil, mapErr(err)
	}
	return out.ETag, nil
}

// wait lets the part in flight finish; one that failed is kept for a
// retry at Commit.
func (u *upload) wait() error {
	p := u.fly
	if p == nil {
		return nil
	}
	<-p.done
	u.fly = nil
	if p.err != nil {
		u.failed = p
		return p.err
	}
	u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(p.num), ETag: p.etag})
	u.f.b.pool.release(p.res)
	u.f.b.putBuf(p.data)
	return nil
}

func (u *upload) Commit(ctx context.Context) (vfs.Committed, error) {
	return u.commit(ctx, !u.o.NoReplace)
}

func (u *upload) CommitReplace(ctx context.Context) (vfs.Committed, error) {
	return u.commit(ctx, true)
}

func (u *upload) commit(ctx context.Context, replace bool) (vfs.Committed, error) {
	if u.done {
		return vfs.Committed{}, errors.New("s3vfs: upload already ended")
	}
	u.wait()
	if p := u.failed; p != nil {
		etag, err := u.sendPart(ctx, p)
		if err != nil {
			return vfs.Committed{}, err
		}
		u.failed = nil
		u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(p.num), ETag: etag})
		u.f.b.pool.release(p.res)
		u.f.b.putBuf(p.data)
	}
	var c vfs.Committed
	if replace && !u.o.Resume {
		// What the commit replaces, for the quota (looked at just before,
		// as the local backend does).
		if fi, _, err := u.f.head(ctx, u.key, u.name); err == nil {
			c = vfs.Committed{Replaced: true, OldSize: fi.size}
		}
	}
	var ifNoneMatch *string
	if !replace {
		ifNoneMatch = aws.String("*")
	}
	var etag string
	if u.uploadID == nil {
		out, err := u.f.b.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &u.f.b.bucket, Key: &u.key, Body: bytes.NewReader(u.buf),
			ContentLength: aws.Int64(int64(len(u.buf))), IfNoneMatch: ifNoneMatch})
		if err != nil {
			return vfs.Committed{}, mapErr(err)
		}
		etag = aws.ToString(out.ETag)
	} else {
		if len(u.buf) > 0 || len(u.parts) == 0 {
			p := &part{num: u.num, data: u.buf, res: u.bufRes}
			e, err := u.sendPart(ctx, p)
			if err != nil {
				return vfs.Committed{}, err
			}
			u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(p.num), ETag: e})
			u.num++
			u.f.b.putBuf(u.buf)
			u.buf = nil
		}
		slices.SortFunc(u.parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
		out, err := u.f.b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &u.f.b.bucket, Key: &u.key,
			UploadId: u.uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts}, IfNoneMatch: ifNoneMatch})
		if err != nil {
			return vfs.Committed{}, mapErr(err)
		}
		u.f.b.endMultipart(ctx, u.uploadID)
		etag = aws.ToString(out.ETag)
		if etag == "" {
			if fi, _, err := u.f.head(ctx, u.key, u.name); err == nil {
				etag = fi.etag
			}
		}
	}
	u.done = true
	u.releaseBuf()
	if st, err := u.h.(encoding.BinaryMarshaler).MarshalBinary(); err == nil {
		u.f.storeSum(ctx, u.key, sumRecord{ETag: etag, Size: u.size, Sum: fmt.Sprintf("%x", u.h.Sum(nil)), State: st})
	}
	return c, nil
}

func (u *upload) releaseBuf() {
	if u.bufRes > 0 {
		u.f.b.pool.release(u.bufRes)
		u.f.b.putBuf(u.buf)
		u.buf, u.bufRes = nil, 0
	}
}

func (u *upload) Abandon(ctx context.Context) error {
	if u.done {
		return nil
	}
	u.done = true
	if u.fly != nil {
		<-u.fly.done
		u.f.b.pool.release(u.fly.res)
		u.f.b.putBuf(u.fly.data)
		u.fly = nil
	}
	if u.failed != nil {
		u.f.b.pool.release(u.failed.res)
		u.f.b.putBuf(u.failed.data)
		u.failed = nil
	}
	u.releaseBuf()
	if u.uploadID == nil {
		return nil
	}
	_, err := u.f.b.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &u.f.b.bucket, Key: &u.key, UploadId: u.uploadID})
	if err == nil || errors.Is(mapErr(err), vfs.ErrNotExist) {
		u.f.b.endMultipart(ctx, u.uploadID)
	}
	return mapErr(err)
}
