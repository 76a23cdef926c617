// Package s3vfs is the vfs.Storage backend on an S3-compatible bucket
// (AWS S3, versitygw, MinIO, Ceph, SeaweedFS).
//
// It owns the mapping of a user's names onto object keys
// (PREFIX/HOME/name, folders as "name/" marker objects plus common
// prefixes, so the bucket reads naturally with any S3 tool and files
// other tools wrote appear in listings), the multipart upload loop, the
// stored SHA-256 of what it uploaded, and the translation of S3 errors
// into the seam's sentinels. It must never let a name reach outside its
// home prefix, never stage an upload on local disk, and never decide
// permissions or quotas (the engine and package accounts do).
//
// What lives where in the bucket:
//
//	PREFIX/HOME/path             a user's file, under the name the client used
//	PREFIX/HOME/dir/             a folder marker (an empty object)
//	PREFIX/.wharf/sha256/HOME/path  the SHA-256 of the file and the hash state
//	                             that continues it, with the ETag it is valid for
//
// A home named ".wharf" is refused, so the two never meet.
package s3vfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/wharfftp/wharf/internal/vfs"
)

// Object store limits (AWS's, which the compatible engines share).
const (
	// minPart is the smallest part of a multipart upload but the last.
	minPart = 5 << 20
	// maxCopyPart bounds one UploadPartCopy (S3 allows 5 GiB; a margin
	// leaves room to fold a short remainder into the last chunk).
	maxCopyPart = 4 << 30
	// maxSingleCopy is the largest object CopyObject copies in one call.
	maxSingleCopy = 5 << 30
	// maxParts is the most parts a multipart upload may have.
	maxParts = 10000
)

// Folder renames copy every object below the folder, then delete the
// originals: above these bounds they are refused (vfs.ErrTooLarge, a
// clear 550) rather than left to run for minutes with the client
// waiting.
const (
	MaxFolderRenameObjects = 1000
	MaxFolderRenameBytes   = 1 << 30
)

// metaMtime is the object metadata key of the time MFMT set.
const metaMtime = "wharf-mtime"

// Bucket is one bucket (and key prefix) holding the homes of many users.
type Bucket struct {
	client *s3.Client
	bucket string
	prefix string // "" or "p/q/": ends with a slash
	pool   *partPool
	bufs   sync.Pool // *[]byte of cap firstPartSize: the buffers pool accounts for
	// records is the key prefix of the records of open multipart uploads
	// (PREFIX/.wharf/uploads/), node this server's name below it.
	records, node string
}

func (b *Bucket) getBuf() []byte {
	if p, ok := b.bufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, firstPartSize)
}

// putBuf takes back a part buffer nothing refers to any more.
func (b *Bucket) putBuf(p []byte) {
	if cap(p) == firstPartSize {
		p = p[:0]
		b.bufs.Put(&p)
	}
}

// Options tunes a Bucket.
type Options struct {
	// PartMemory bounds the bytes of part buffers all uploads of the
	// Bucket hold together (0: DefaultPartMemory). An upload waits for
	// room rather than exceed it.
	PartMemory int64
	// Node names this server among those sharing the bucket (wharf
	// serve's --node; one name a node). Its multipart uploads are
	// recorded under it, and its start-up Sweep aborts only what a
	// process of the same name recorded, never another node's uploads in
	// flight.
	Node string
}

// StaleUploadAge is the age past which Sweep aborts any multipart upload
// under the prefix, whoever started it: one no node recorded (another
// tool's, or one whose record failed), or one of a node that never came
// back.
const StaleUploadAge = 7 * 24 * time.Hour

// DefaultPartMemory holds 32 parts of the first size: 16 uploads at full
// speed (one part filling, one in flight each).
const DefaultPartMemory = 32 * firstPartSize

// New returns the Bucket bucket, its keys under prefix ("" or a path
// without leading slash).
func New(client *s3.Client, bucket, prefix string, o Options) (*Bucket, error) {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if !fs.ValidPath(prefix) {
			return nil, fmt.Errorf("s3 prefix %q is not a clean path", prefix)
		}
		prefix += "/"
	}
	if o.PartMemory <= 0 {
		o.PartMemory = DefaultPartMemory
	}
	node := o.Node
	if node == "" {
		node = "-"
	}
	return &Bucket{client: client, bucket: bucket, prefix: prefix, pool: newPartPool(o.PartMemory),
		records: prefix + ".wharf/uploads/", node: url.PathEscape(node)}, nil
}

// Home returns the Storage of one home (a path below the prefix, such as
// a user name).
func (b *Bucket) Home(home string) (*FS, error) {
	home = strings.Trim(home, "/")
	if home == "" || !fs.ValidPath(home) || home == ".wharf" || strings.HasPrefix(home, ".wharf/") {
		return nil, fmt.Errorf("s3 home %q is not a valid key prefix", home)
	}
	return &FS{b: b, home: home, root: b.prefix + home + "/"}, nil
}

// Sweep finishes the folder renames a process of this node journalled
// and did not end (see moveFolder), and settles the multipart uploads a
// server that died mid-upload left under the prefix: nothing would ever complete or abort them, and
// the bucket would keep (and bill) their parts forever. Run it once at
// start, with the start time, before serving. It aborts the uploads
// started before since that a process of this node recorded (see
// Options.Node: its predecessor, since a node runs one process), and any
// upload older than StaleUploadAge; another node's uploads in flight are
// left alone.
func (b *Bucket) Sweep(ctx context.Context, since time.Time) (aborted int, err error) {
	if err := b.finishRenames(ctx); err != nil {
		return 0, err
	}
	recs, err := b.listRecords(ctx)
	if err != nil {
		return 0, err
	}
	ps, err := b.listPending(ctx, recs)
	if err != nil {
		return 0, err
	}
	stale := since.Add(-StaleUploadAge)
	for _, p := range ps {
		rec, recorded := recs[p.ID]
		delete(recs, p.ID)
		if !p.Initiated.IsZero() && !p.Initiated.Before(since) {
			continue
		}
		mine := recorded && rec.node == b.node
		if !mine && (p.Initiated.IsZero() || !p.Initiated.Before(stale)) {
			continue
		}
		if err := b.Abort(ctx, p); err != nil {
			return aborted, err
		}
		aborted++
	}
	// This node's records of uploads that are gone (completed or aborted
	// just before the crash dropped the record).
	for _, rec := range recs {
		if rec.node == b.node {
			b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(rec.key)})
		}
	}
	return aborted, nil
}

// uploadRecord is the record of an open multipart upload (see recordKey):
// the node that began it, and the record's own key.
type uploadRecord struct{ node, key string }

// listRecords returns the records of open multipart uploads, by upload ID.
func (b *Bucket) listRecords(ctx context.Context) (map[string]uploadRecord, error) {
	recs := map[string]uploadRecord{}
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(b.records)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapErr(err)
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			node, enc, ok := strings.Cut(strings.TrimPrefix(k, b.records), "/")
			if id, err := base64.RawURLEncoding.DecodeString(enc); ok && err == nil {
				recs[string(id)] = uploadRecord{node, k}
			}
		}
	}
	return recs, nil
}

// listPending lists the multipart uploads under the prefix, each with the
// key of its record in recs, if any.
func (b *Bucket) listPending(ctx context.Context, recs map[string]uploadRecord) ([]Pending, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: &b.bucket}
	if b.prefix != "" {
		in.Prefix = aws.String(b.prefix)
	}
	var ps []Pending
	for {
		out, err := b.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, mapErr(err)
		}
		for _, u := range out.Uploads {
			id := aws.ToString(u.UploadId)
			ps = append(ps, Pending{Key: aws.ToString(u.Key), ID: id, Initiated: aws.ToTime(u.Initiated), record: recs[id].key})
		}
		if !aws.ToBool(out.IsTruncated) {
			return ps, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// recordKey is the key of the record of an open multipart upload: the
// node's name and the upload ID, so a listing alone says whose it is.
func (b *Bucket) recordKey(uploadID *string) string {
	return b.records + b.node + "/" + base64.RawURLEncoding.EncodeToString([]byte(aws.ToString(uploadID)))
}

// createMultipart starts a multipart upload and records it under this
// node's name (see Sweep); an upload that cannot be recorded is aborted.
func (b *Bucket) createMultipart(ctx context.Context, in *s3.CreateMultipartUploadInput) (*string, error) {
	out, err := b.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return nil, mapErr(err)
	}
	if _, err := b.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b.bucket, Key: aws.String(b.recordKey(out.UploadId)),
		Body: strings.NewReader(""), ContentLength: aws.Int64(0)}); err != nil {
		b.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: in.Key, UploadId: out.UploadId})
		return nil, mapErr(err)
	}
	return out.UploadId, nil
}

// endMultipart drops the record of a multipart upload completed or
// aborted; a record left behind is cleared by the node's next Sweep.
func (b *Bucket) endMultipart(ctx context.Context, uploadID *string) {
	b.client.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(b.recordKey(uploadID))})
}

// Pending is a multipart upload under a Bucket's prefix.
type Pending struct {
	Key       string
	ID        string
	Initiated time.Time // the store's clock; zero if it did not say
	record    string    // the key of its record (see Sweep), if any
}

// Pending lists the multipart uploads under the prefix, for a sweep that
// knows by other means which are live (a cluster's database).
func (b *Bucket) Pending(ctx context.Context) ([]Pending, error) {
	recs, err := b.listRecords(ctx)
	if err != nil {
		return nil, err
	}
	return b.listPending(ctx, recs)
}

// Abort aborts a multipart upload and drops its record; one already gone
// is no error.
func (b *Bucket) Abort(ctx context.Context, p Pending) error {
	_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: &p.Key, UploadId: &p.ID})
	if err != nil && !errors.Is(mapErr(err), vfs.ErrNotExist) {
		return mapErr(err)
	}
	if p.record != "" {
		b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(p.record)})
	}
	return nil
}

// Key returns the object key of name (a path relative to the home) in
// home, as Home(home) stores it.
func (b *Bucket) Key(home, name string) (string, error) {
	h, err := b.Home(home)
	if err != nil {
		return "", err
	}
	return h.key(name)
}

// Usage sums the bytes and files under a home (wharf user rescan): one
// paged listing of the prefix, folder markers not counted.
func (b *Bucket) Usage(ctx context.Context, home string) (bytes, files int64, err error) {
	h, err := b.Home(home)
	if err != nil {
		return 0, 0, err
	}
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(h.root)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return 0, 0, mapErr(err)
		}
		for _, o := range out.Contents {
			if strings.HasSuffix(aws.ToString(o.Key), "/") {
				continue
			}
			bytes += aws.ToInt64(o.Size)
			files++
		}
	}
	return bytes, files, nil
}

// RemoveHome deletes every object under a home, and the stored checksums
// of its files (wharf user del --purge): paged, so a home of any size goes
// in bounded memory; an error leaves the rest for the next try.
func (b *Bucket) RemoveHome(ctx context.Context, home string) error {
	h, err := b.Home(home)
	if err != nil {
		return err
	}
	for _, prefix := range []string{h.root, h.sumKey(h.root)} {
		p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return mapErr(err)
			}
			for _, o := range out.Contents {
				if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: o.Key}); err != nil {
					return mapErr(err)
				}
			}
		}
	}
	return nil
}

// FS is one home in a Bucket: a vfs.Storage and a vfs.Checksummer.
type FS struct {
	b    *Bucket
	home string
	root string // PREFIX/HOME/
}

var (
	_ vfs.Storage     = (*FS)(nil)
	_ vfs.Checksummer = (*FS)(nil)
	_ vfs.Identifier  = (*FS)(nil)
)

// key maps a name to its object key; "." is the home itself (key root).
// A name that is not a clean relative path (.., a leading slash, empty
// elements) is refused: with keys, unlike an os.Root, nothing else would
// stop it.
func (f *FS) key(name string) (string, error) {
	if name == "." {
		return f.root, nil
	}
	if !fs.ValidPath(name) || strings.HasSuffix(name, "/") {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return f.root + name, nil
}

func (f *FS) Close() error { return nil }

// Dir names the home for the engine's per-name locks (vfs.Identifier):
// s3://BUCKET/PREFIX/HOME.
func (f *FS) Dir() string { return "s3://" + f.b.bucket + "/" + strings.TrimSuffix(f.root, "/") }

// fileInfo is an object or a folder.
type fileInfo struct {
	name  string
	size  int64
	mtime time.Time
	dir   bool
	etag  string
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) ModTime() time.Time { return fi.mtime }
func (fi *fileInfo) IsDir() bool        { return fi.dir }
func (fi *fileInfo) Sys() any           { return nil }
func (fi *fileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

func baseName(name string) string {
	if name == "." {
		return "."
	}
	return path.Base(name)
}

// head stats an object key (not a folder).
func (f *FS) head(ctx context.Context, key, name string) (*fileInfo, map[string]string, error) {
	out, err := f.b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &f.b.bucket, Key: &key})
	if err != nil {
		return nil, nil, mapErr(err)
	}
	fi := &fileInfo{name: baseName(name), size: aws.ToInt64(out.ContentLength), mtime: aws.ToTime(out.LastModified), etag: aws.ToString(out.ETag)}
	if v, ok := out.Metadata[metaMtime]; ok {
		if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
			fi.mtime = time.Unix(0, ns).UTC()
		}
	}
	return fi, out.Metadata, nil
}

// isDir reports whether key+"/" is a folder: a marker or any object
// below it.
func (f *FS) isDir(ctx context.Context, dirKey string) (bool, error) {
	out, err := f.b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &f.b.bucket, Prefix: &dirKey, MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, mapErr(err)
	}
	return len(out.Contents) > 0 || len(out.CommonPrefixes) > 0, nil
}

func (f *FS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	fi, err := f.stat(ctx, name)
	if err != nil {
		return nil, err
	}
	return fi, nil
}

func (f *FS) stat(ctx context.Context, name string) (*fileInfo, error) {
	key, err := f.key(name)
	if err != nil {
		return nil, err
	}
	if name == "." {
		// The home exists as soon as the user does: it is a prefix.
		return &fileInfo{name: ".", dir: true}, nil
	}
	fi, _, err := f.head(ctx, key, name)
	if err == nil {
		return fi, nil
	}
	if !errors.Is(err, vfs.ErrNotExist) {
		return nil, err
	}
	dir, err := f.isDir(ctx, key+"/")
	if err != nil {
		return nil, err
	}
	if !dir {
		return nil, notExist("stat", name)
	}
	fi = &fileInfo{name: baseName(name), dir: true}
	if m, _, err := f.head(ctx, key+"/", name); err == nil {
		fi.mtime = m.mtime
	}
	return fi, nil
}

func notExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

// statFile stats name and requires a regular file.
func (f *FS) statFile(ctx context.Context, op, name string) (*fileInfo, string, error) {
	key, err := f.key(name)
	if err != nil {
		return nil, "", err
	}
	fi, err := f.stat(ctx, name)
	if err != nil {
		return nil, "", err
	}
	if fi.dir {
		return nil, "", vfs.WithKind(vfs.ErrIsDir, &fs.PathError{Op: op, Path: name, Err: errors.New("is a folder")})
	}
	return fi, key, nil
}

func (f *FS) OpenRead(ctx context.Context, name string, off int64) (vfs.Reader, error) {
	for try := 0; ; try++ {
		r, err := f.openRead(ctx, name, off)
		// The object was replaced between the look and the GET (its
		// ETag no longer matches): open the new one, as a reader of a
		// local file opened a moment later would. Only a name replaced
		// again and again still fails, as a conflict.
		if errors.Is(err, errReplaced) && try < 3 {
			continue
		}
		return r, err
	}
}

// errReplaced marks a GET whose If-Match found another object.
var errReplaced = errors.New("s3vfs: object replaced while it was opened")

func (f *FS) openRead(ctx context.Context, name string, off int64) (vfs.Reader, error) {
	fi, key, err := f.statFile(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	if off < 0 || off > fi.size {
		return nil, &fs.PathError{Op: "seek", Path: name, Err: fs.ErrInvalid}
	}
	r := &reader{fi: fi}
	if off == fi.size {
		r.body = io.NopCloser(strings.NewReader(""))
		return r, nil
	}
	in := &s3.GetObjectInput{Bucket: &f.b.bucket, Key: &key}
	if fi.etag != "" {
		// The object stat described, not one replaced meanwhile.
		in.IfMatch = aws.String(fi.etag)
	}
	if off > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := f.b.client.GetObject(ctx, in)
	if err != nil {
		err = mapErr(err)
		if fi.etag != "" && errors.Is(err, vfs.ErrExist) {
			// 412: the precondition, If-Match, failed.
			return nil, vfs.WithKind(vfs.ErrTransient, fmt.Errorf("%w: %w", errReplaced, err))
		}
		return nil, err
	}
	r.body = out.Body
	return r, nil
}

// reader is a download: the body of one (ranged) GET.
type reader struct {
	fi   *fileInfo
	body io.ReadCloser
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if err != nil && err != io.EOF {
		err = mapErr(err)
	}
	return n, err
}
func (r *reader) Close() error      { return r.body.Close() }
func (r *reader) Info() fs.FileInfo { return r.fi }
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	// io.Copy would otherwise ask the destination for ReadFrom, which a
	// *net.TCPConn answers with its own 32 KiB loop; this is the same loop
	// without the extra indirection.
	return io.Copy(struct{ io.Writer }{w}, struct{ io.Reader }{r})
}

func (f *FS) List(ctx context.Context, name string) (vfs.Lister, error) {
	key, err := f.key(name)
	if err != nil {
		return nil, err
	}
	if name != "." {
		key += "/"
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &lister{f: f, ctx: ctx, cancel: cancel, in: &s3.ListObjectsV2Input{Bucket: &f.b.bucket, Prefix: aws.String(key), Delimiter: aws.String("/")}, dirKey: key}
	// A first page with anything under key is a folder's (its marker or
	// what it holds): only an empty one needs a stat to tell an empty
	// home, a file and nothing apart.
	in := *l.in
	out, err := f.b.client.ListObjectsV2(ctx, &in)
	p := page{out, err}
	if p.err != nil {
		cancel()
		return nil, mapErr(p.err)
	}
	if len(p.out.Contents) == 0 && len(p.out.CommonPrefixes) == 0 {
		fi, err := f.stat(ctx, name)
		if err == nil && !fi.dir {
			err = vfs.WithKind(vfs.ErrNotDir, &fs.PathError{Op: "list", Path: name, Err: errors.New("not a folder")})
		}
		if err != nil {
			cancel()
			return nil, err
		}
	}
	l.first = &p
	return l, nil
}

// lister pages through ListObjectsV2, one page (up to 1,000 keys) held at
// a time, so a listing streams to the client as the pages come. The next
// page is asked for as soon as a page arrives, so the store prepares it
// while the caller sends this one: a listing takes the store's time, not
// the store's plus the client's.
type lister struct {
	f      *FS
	ctx    context.Context
	cancel context.CancelFunc
	in     *s3.ListObjectsV2Input
	dirKey string
	buf    []fs.FileInfo
	done   bool      // no page left to fetch
	next   chan page // the page on its way, nil if none
	first  *page     // the page List fetched, not yet taken
}

type page struct {
	out *s3.ListObjectsV2Output
	err error
}

// fetch asks for the page l.in names, without waiting for it.
func (l *lister) fetch() {
	in := *l.in
	ch := make(chan page, 1)
	l.next = ch
	go func() {
		out, err := l.f.b.client.ListObjectsV2(l.ctx, &in)
		ch <- page{out, err}
	}()
}

func (l *lister) Next(n int) ([]fs.FileInfo, error) {
	for len(l.buf) == 0 && !l.done {
		var p page
		if l.first != nil {
			p, l.first = *l.first, nil
		} else {
			if l.next == nil {
				l.fetch()
			}
			p = <-l.next
			l.next = nil
		}
		if p.err != nil {
			return nil, mapErr(p.err)
		}
		out := p.out
		if aws.ToBool(out.IsTruncated) && out.NextContinuationToken != nil {
			l.in.ContinuationToken = out.NextContinuationToken
			l.fetch()
		} else {
			l.done = true
		}
		for _, p := range out.CommonPrefixes {
			n := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(p.Prefix), l.dirKey), "/")
			if n == "" || strings.Contains(n, "/") {
				continue
			}
			l.buf = append(l.buf, &fileInfo{name: n, dir: true})
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			n := strings.TrimPrefix(k, l.dirKey)
			if n == "" || strings.Contains(n, "/") {
				continue // the folder's own marker
			}
			l.buf = append(l.buf, &fileInfo{name: n, size: aws.ToInt64(o.Size), mtime: aws.ToTime(o.LastModified), etag: aws.ToString(o.ETag)})
		}
	}
	k := min(n, len(l.buf))
	if n <= 0 {
		k = len(l.buf)
	}
	out := l.buf[:k:k]
	l.buf = l.buf[k:]
	if len(l.buf) == 0 && l.done {
		return out, io.EOF
	}
	return out, nil
}

// Close drops the page on its way, if any.
func (l *lister) Close() error {
	l.cancel()
	if l.next != nil {
		<-l.next
		l.next = nil
	}
	l.buf, l.done = nil, true
	return nil
}

func (f *FS) Mkdir(ctx context.Context, name string, _ fs.FileMode) error {
	key, err := f.key(name)
	if err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	if _, err := f.stat(ctx, name); err == nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	} else if !errors.Is(err, vfs.ErrNotExist) {
		return err
	}
	if dir := path.Dir(name); dir != "." {
		pfi, err := f.stat(ctx, dir)
		if err != nil {
			return err
		}
		if !pfi.dir {
			return vfs.WithKind(vfs.ErrNotDir, &fs.PathError{Op: "mkdir", Path: name, Err: errors.New("parent is a file")})
		}
	}
	_, err = f.b.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &f.b.bucket, Key: aws.String(key + "/"), Body: strings.NewReader(""),
		ContentLength: aws.Int64(0), IfNoneMatch: aws.String("*")})
	if errors.Is(mapErr(err), vfs.ErrExist) {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	return mapErr(err)
}

// putMarker creates the folder marker dirKey (with its slash).
func (f *FS) putMarker(ctx context.Context, dirKey string) error {
	_, err := f.b.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &f.b.bucket, Key: &dirKey, Body: strings.NewReader(""), ContentLength: aws.Int64(0)})
	return mapErr(err)
}

func (f *FS) Remove(ctx context.Context, name string) error {
	key, err := f.key(name)
	if err != nil {
		return err
	}
	if name == "." {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrPermission}
	}
	if _, _, err := f.head(ctx, key, name); err == nil {
		if err := f.delete(ctx, key); err != nil {
			return err
		}
		f.dropSum(ctx, key)
		return nil
	} else if !errors.Is(err, vfs.ErrNotExist) {
		return err
	}
	out, err := f.b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &f.b.bucket, Prefix: aws.String(key + "/"), MaxKeys: aws.Int32(2)})
	if err != nil {
		return mapErr(err)
	}
	marker := false
	for _, o := range out.Contents {
		if aws.ToString(o.Key) != key+"/" {
			return vfs.WithKind(vfs.ErrNotEmpty, &fs.PathError{Op: "remove", Path: name, Err: errors.New("folder not empty")})
		}
		marker = true
	}
	if len(out.CommonPrefixes) > 0 {
		return vfs.WithKind(vfs.ErrNotEmpty, &fs.PathError{Op: "remove", Path: name, Err: errors.New("folder not empty")})
	}
	if !marker {
		return notExist("remove", name)
	}
	return f.delete(ctx, key+"/")
}

func (f *FS) delete(ctx context.Context, key string) error {
	_, err := f.b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &f.b.bucket, Key: &key})
	return mapErr(err)
}

func (f *FS) Rename(ctx context.Context, oldname, newname string) error {
	okey, err := f.key(oldname)
	if err != nil {
		return err
	}
	nkey, err := f.key(newname)
	if err != nil {
		return err
	}
	if oldname == "." || newname == "." {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrPermission}
	}
	fi, err := f.stat(ctx, oldname)
	if err != nil {
		return err
	}
	if okey == nkey {
		return nil
	}
	if dir := path.Dir(newname); dir != "." {
		pfi, err := f.stat(ctx, dir)
		if err != nil {
			return err
		}
		if !pfi.dir {
			return vfs.WithKind(vfs.ErrNotDir, &fs.PathError{Op: "rename", Path: newname, Err: errors.New("parent is a file")})
		}
	}
	if !fi.dir {
		return f.moveObject(ctx, okey, nkey, fi)
	}
	if strings.HasPrefix(nkey+"/", okey+"/") {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrInvalid}
	}
	return f.moveFolder(ctx, oldname, okey+"/", nkey+"/")
}

// moveObject copies an object server-side, then deletes the original.
// Readers see the old name or the new one, for a moment both, never a
// partial file.
func (f *FS) moveObject(ctx context.Context, okey, nkey string, fi *fileInfo) error {
	etag, err := f.copyObject(ctx, okey, nkey, fi, nil)
	if err != nil {
		return err
	}
	f.carrySum(ctx, okey, fi.etag, nkey, etag)
	if err := f.delete(ctx, okey); err != nil {
		return err
	}
	f.dropSum(ctx, okey)
	return nil
}

// copySource is the x-amz-copy-source of a key: bucket/key, URL-encoded
// but for the slashes.
func (f *FS) copySource(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return f.b.bucket + "/" + strings.Join(parts, "/")
}

// copyObject copies okey (described by fi) to nkey, in one CopyObject up
// to 5 GiB and as a multipart copy above; meta, when not nil, replaces
// the metadata. It returns the new object's ETag.
func (f *FS) copyObject(ctx context.Context, okey, nkey string, fi *fileInfo, meta map[string]string) (string, error) {
	if fi.size <= maxSingleCopy {
		in := &s3.CopyObjectInput{Bucket: &f.b.bucket, Key: &nkey, CopySource: aws.String(f.copySource(okey))}
		if fi.etag != "" {
			in.CopySourceIfMatch = aws.String(fi.etag)
		}
		if meta != nil {
			in.Metadata, in.MetadataDirective = meta, types.MetadataDirectiveReplace
		}
		out, err := f.b.client.CopyObject(ctx, in)
		if err != nil {
			return "", mapErr(err)
		}
		if out.CopyObjectResult != nil {
			return aws.ToString(out.CopyObjectResult.ETag), nil
		}
		return "", nil
	}
	cin := &s3.CreateMultipartUploadInput{Bucket: &f.b.bucket, Key: &nkey, Metadata: meta}
	if meta == nil {
		if _, m, err := f.head(ctx, okey, okey); err == nil {
			cin.Metadata = m
		}
	}
	id, err := f.b.createMultipart(ctx, cin)
	if err != nil {
		return "", err
	}
	defer f.b.endMultipart(ctx, id)
	parts, err := f.copyParts(ctx, okey, fi.etag, nkey, id, 0, fi.size, 1)
	if err == nil {
		var out *s3.CompleteMultipartUploadOutput
		out, err = f.b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &f.b.bucket, Key: &nkey,
			UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		if err == nil {
			return aws.ToString(out.ETag), nil
		}
	}
	f.b.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &f.b.bucket, Key: &nkey, UploadId: id})
	return "", mapErr(err)
}

// copyParts adds the bytes [lo, hi) of okey to a multipart upload as
// UploadPartCopy parts numbered from first, each at least minPart but
// possibly the last.
func (f *FS) copyParts(ctx context.Context, okey, etag, nkey string, uploadID *string, lo, hi int64, first int32) ([]types.CompletedPart, error) {
	var parts []types.CompletedPart
	for off, num := lo, first; off < hi; num++ {
		n := min(int64(maxCopyPart), hi-off)
		if hi-off-n < minPart {
			n = hi - off // fold a short remainder in
		}
		in := &s3.UploadPartCopyInput{Bucket: &f.b.bucket, Key: &nkey, UploadId: uploadID, PartNumber: aws.Int32(num),
			CopySource: aws.String(f.copySource(okey)), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))}
		if etag != "" {
			in.CopySourceIfMatch = aws.String(etag)
		}
		out, err := f.b.client.UploadPartCopy(ctx, in)
		if err != nil {
			return nil, mapErr(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.CopyPartResult.ETag})
		off += n
	}
	return parts, nil
}

// moveFolder moves every object below okey (a folder key, with its
// slash) to nkey: copies all, then deletes all, so a failure part way
// leaves every file at least at its old name; the move is journalled
// first, and this node's next Sweep finishes one that was cut.
func (f *FS) moveFolder(ctx context.Context, name, okey, nkey string) error {
	if dir, err := f.isDir(ctx, nkey); err != nil {
		return err
	} else if dir {
		return &fs.PathError{Op: "rename", Path: name, Err: fs.ErrExist}
	}
	objs, err := f.b.folderObjects(ctx, okey, func(n int, total int64) error {
		if n > MaxFolderRenameObjects || total > MaxFolderRenameBytes {
			return vfs.WithKind(vfs.ErrTooLarge, &fs.PathError{Op: "rename", Path: name,
				Err: fmt.Errorf("folders of more than %d files or %d bytes are not renamed on object storage", MaxFolderRenameObjects, MaxFolderRenameBytes)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Journalled: a rename cut part way (the server killed, the store
	// failing) is finished by this node's next Sweep, never left half
	// done.
	jkey, err := f.b.putJournal(ctx, okey, nkey)
	if err != nil {
		return err
	}
	if err := f.moveObjects(ctx, okey, nkey, objs); err != nil {
		return err
	}
	f.b.client.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: &f.b.bucket, Key: &jkey})
	return nil
}

// folderObj is an object below a folder being moved.
type folderObj struct {
	key  string
	info fileInfo
}

// folderObjects lists the objects below okey (a folder key, with its
// slash); check, if not nil, is asked after each page with the count and
// bytes so far, and its error ends the listing.
func (b *Bucket) folderObjects(ctx context.Context, okey string, check func(n int, total int64) error) ([]folderObj, error) {
	var objs []folderObj
	var total int64
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &okey})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapErr(err)
		}
		for _, o := range out.Contents {
			objs = append(objs, folderObj{aws.ToString(o.Key), fileInfo{size: aws.ToInt64(o.Size), etag: aws.ToString(o.ETag)}})
			total += aws.ToInt64(o.Size)
		}
		if check != nil {
			if err := check(len(objs), total); err != nil {
				return nil, err
			}
		}
	}
	return objs, nil
}

// moveObjects copies objs (the keys below okey) to nkey, then deletes
// them: a failure part way leaves every file at least at its old name,
// and running it again on what is left under okey finishes the move.
func (f *FS) moveObjects(ctx context.Context, okey, nkey string, objs []folderObj) error {
	// The new folder's marker first, so it exists under the new name
	// even if all its files go (a folder known only by its files).
	if err := f.putMarker(ctx, nkey); err != nil {
		return err
	}
	for _, o := range objs {
		nk := nkey + strings.TrimPrefix(o.key, okey)
		if strings.HasSuffix(o.key, "/") {
			// Markers are made, not copied: an engine that maps them to
			// directories (versitygw) refuses a copy onto a folder key.
			if nk != nkey {
				if err := f.putMarker(ctx, nk); err != nil {
					return err
				}
			}
			continue
		}
		etag, err := f.copyObject(ctx, o.key, nk, &o.info, nil)
		if err != nil {
			return err
		}
		f.carrySum(ctx, o.key, o.info.etag, nk, etag)
	}
	for i := len(objs) - 1; i >= 0; i-- {
		// Deepest first: an engine that maps keys to directories (versitygw)
		// removes a folder once its marker goes.
		if err := f.delete(ctx, objs[i].key); err != nil {
			return err
		}
		f.dropSum(ctx, objs[i].key)
	}
	return nil
}

// renameJournal is the record of a folder rename in progress, under
// PREFIX/.wharf/renames/NODE/.
type renameJournal struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func (b *Bucket) journals() string { return b.prefix + ".wharf/renames/" + b.node + "/" }

func (b *Bucket) putJournal(ctx context.Context, okey, nkey string) (string, error) {
	h := sha256.Sum256([]byte(okey))
	key := b.journals() + hex.EncodeToString(h[:16])
	body, _ := json.Marshal(renameJournal{From: okey, To: nkey})
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b.bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
	return key, mapErr(err)
}

// finishRenames completes the folder renames a process of this node
// journalled and did not finish.
func (b *Bucket) finishRenames(ctx context.Context) error {
	f := &FS{b: b}
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(b.journals())})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return mapErr(err)
		}
		for _, o := range out.Contents {
			g, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: o.Key})
			if err != nil {
				return mapErr(err)
			}
			var j renameJournal
			err = json.NewDecoder(io.LimitReader(g.Body, 8<<10)).Decode(&j)
			g.Body.Close()
			if err == nil && strings.HasPrefix(j.From, b.prefix) && strings.HasPrefix(j.To, b.prefix) && strings.HasSuffix(j.From, "/") && strings.HasSuffix(j.To, "/") {
				objs, err := b.folderObjects(ctx, j.From, nil)
				if err != nil {
					return err
				}
				if len(objs) > 0 {
					if err := f.moveObjects(ctx, j.From, j.To, objs); err != nil {
						return err
					}
				}
			}
			if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: o.Key}); err != nil {
				return mapErr(err)
			}
		}
	}
	return nil
}

func (f *FS) Chtimes(ctx context.Context, name string, _, mtime time.Time) error {
	key, err := f.key(name)
	if err != nil {
		return err
	}
	fi, err := f.stat(ctx, name)
	if err != nil {
		return err
	}
	if fi.dir {
		if name == "." {
			return nil
		}
		key += "/"
		if dfi, _, err := f.head(ctx, key, name); err == nil {
			fi = dfi
		} else {
			return nil // a folder without a marker has no time to set
		}
	}
	_, meta, err := f.head(ctx, key, name)
	if err != nil {
		return err
	}
	m := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		m[k] = v
	}
	m[metaMtime] = strconv.FormatInt(mtime.UnixNano(), 10)
	// Metadata is set by copying the object onto itself.
	etag, err := f.copyObject(ctx, key, key, fi, m)
	if err != nil {
		return err
	}
	f.carrySum(ctx, key, fi.etag, key, etag)
	return nil
}

// Avail is unbounded: a bucket has no free space to report; quotas bound
// users.
func (f *FS) Avail(context.Context, string) (int64, error) { return math.MaxInt64, nil }

// mapErr turns an S3 or transport error into one matching the seam's
// sentinels; the original stays reachable with errors.As.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			return vfs.WithKind(vfs.ErrNotExist, err)
		case "PreconditionFailed", "ConditionalRequestConflict":
			return vfs.WithKind(vfs.ErrExist, err)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled":
			return vfs.WithKind(vfs.ErrPermission, err)
		case "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed":
			return vfs.WithKind(vfs.ErrTransient, err)
		case "EntityTooLarge", "QuotaExceeded":
			return vfs.WithKind(vfs.ErrNoSpace, err)
		case "NoSuchBucket":
			return vfs.WithKind(vfs.ErrTransient, err)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		switch s := re.HTTPStatusCode(); {
		case s == 404:
			return vfs.WithKind(vfs.ErrNotExist, err)
		case s == 412:
			return vfs.WithKind(vfs.ErrExist, err)
		case s == 403:
			return vfs.WithKind(vfs.ErrPermission, err)
		case s >= 500 || s == 429:
			return vfs.WithKind(vfs.ErrTransient, err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) {
		// No answer at all: the store is down or unreachable.
		return vfs.WithKind(vfs.ErrTransient, err)
	}
	var rerr interface{ RetryableError() bool }
	if errors.As(err, &rerr) && rerr.RetryableError() {
		return vfs.WithKind(vfs.ErrTransient, err)
	}
	return err
}

// partPool bounds the memory of part buffers across a Bucket's uploads.
type partPool struct {
	mu    sync.Mutex
	cond  *sync.Cond
	free  int64
	limit int64
}

func newPartPool(limit int64) *partPool {
	p := &partPool{free: limit, limit: limit}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// acquire waits until n bytes are free (a part larger than the whole
// pool waits for the pool to be empty), or ctx ends.
func (p *partPool) acquire(ctx context.Context, n int64) error {
	n = min(n, p.limit)
	stop := context.AfterFunc(ctx, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.free < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.cond.Wait()
	}
	p.free -= n
	return nil
}

func (p *partPool) release(n int64) {
	n = min(n, p.limit)
	p.mu.Lock()
	p.free += n
	p.cond.Broadcast()
	p.mu.Unlock()
}
