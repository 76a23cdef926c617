package s3vfs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Stored checksums.
//
// The SHA-256 of an uploaded file is known when its upload completes, but
// a multipart upload's metadata is fixed when it starts, so the sum lives
// in a small record object beside the home (sumKey), with the ETag of the
// object it describes: a file changed by another tool has another ETag,
// and its record is then ignored (HASH reads the file). The record also
// holds the marshalled hash state (Go's hashes implement
// encoding.BinaryMarshaler), so an APPE or a resume at the end continues
// the hash instead of reading the file again.

// sumRecord is the stored SHA-256 of one object.
type sumRecord struct {
	ETag  string `json:"etag"`
	Size  int64  `json:"size"`
	Sum   string `json:"sha256"`
	State []byte `json:"state"`
}

// sumKey is the record's key: PREFIX/.wharf/sha256/HOME/path.
func (f *FS) sumKey(key string) string {
	return f.b.prefix + ".wharf/sha256/" + strings.TrimPrefix(key, f.b.prefix)
}

// loadSum returns the record of key if it is valid for the ETag etag.
func (f *FS) loadSum(ctx context.Context, key, etag string) (sumRecord, bool) {
	if etag == "" {
		return sumRecord{}, false
	}
	out, err := f.b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &f.b.bucket, Key: aws.String(f.sumKey(key))})
	if err != nil {
		return sumRecord{}, false
	}
	defer out.Body.Close()
	var s sumRecord
	b, err := io.ReadAll(io.LimitReader(out.Body, 4<<10))
	if err != nil || json.Unmarshal(b, &s) != nil || s.ETag != etag {
		return sumRecord{}, false
	}
	return s, true
}

// storeSum writes a record; a failure only costs a later HASH a read.
func (f *FS) storeSum(ctx context.Context, key string, s sumRecord) {
	if s.ETag == "" {
		return
	}
	b, _ := json.Marshal(s)
	f.b.client.PutObject(context.WithoutCancel(ctx), &s3.PutObjectInput{Bucket: &f.b.bucket, Key: aws.String(f.sumKey(key)),
		Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b)))})
}

// carrySum moves a valid record of okey (at oetag) to nkey (at netag),
// after a copy.
func (f *FS) carrySum(ctx context.Context, okey, oetag, nkey, netag string) {
	s, ok := f.loadSum(ctx, okey, oetag)
	if !ok || netag == "" {
		return
	}
	s.ETag = netag
	f.storeSum(ctx, nkey, s)
}

func (f *FS) dropSum(ctx context.Context, key string) {
	f.b.client.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: &f.b.bucket, Key: aws.String(f.sumKey(key))})
}

// Checksum implements vfs.Checksummer for SHA-256.
func (f *FS) Checksum(ctx context.Context, name, algo string) (string, bool, error) {
	if !strings.EqualFold(algo, "SHA-256") {
		return "", false, nil
	}
	fi, key, err := f.statFile(ctx, "hash", name)
	if err != nil {
		return "", false, err
	}
	s, ok := f.loadSum(ctx, key, fi.etag)
	if !ok || s.Size != fi.size {
		return "", false, nil
	}
	return s.Sum, true, nil
}
