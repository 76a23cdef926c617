package s3vfs

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ClientOptions says how to reach the store.
type ClientOptions struct {
	Endpoint  string // "" = AWS
	Region    string // "" = us-east-1
	PathStyle bool
	// Credentials, when not nil, replace the AWS default chain
	// (environment, shared config and profile, instance roles). Only
	// tests set them: wharf itself never takes credentials from a flag.
	Credentials aws.CredentialsProvider
}

// Timeouts of a request to the store. A store that stops answering must
// give the client a transient error well within the data timeout, never
// a hang: connecting and the first byte of an answer are bounded, a body
// in transit is bounded by the transfer's own data timeout.
const (
	dialTimeout           = 5 * time.Second
	responseHeaderTimeout = 30 * time.Second
	maxAttempts           = 3
)

// NewClient builds an S3 client.
func NewClient(ctx context.Context, o ClientOptions) (*s3.Client, error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
		t.ResponseHeaderTimeout = responseHeaderTimeout
		t.MaxIdleConnsPerHost = 64
	})
	opts := []func(*config.LoadOptions) error{config.WithRegion(o.Region), config.WithHTTPClient(hc), config.WithRetryMaxAttempts(maxAttempts)}
	if o.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		// Checksums only when the operation requires them: the compatible
		// engines differ on the newer trailing checksums.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}
