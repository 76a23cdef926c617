// Package clustertest holds the tests of a wharf cluster as it is run:
// real `wharf serve` processes on one PostgreSQL database and one shared
// folder (or one S3 bucket on versitygw: TestClusterOnS3), behind HAProxy
// in TCP mode with the PROXY protocol, driven by real clients through the
// balancer. It owns the tested HAProxy configuration
// (testdata/haproxy.cfg.tmpl, quoted by the README) and no code of the
// server: nothing but tests may import it.
package clustertest
