// Package image is the node's image store: it imports docker-save and OCI
// image-layout tarballs, pulls images from registries, unpacks each layer
// once (by diffID) into a directory that overlayfs can stack as a lowerdir,
// and records which references point at which manifest and config.
//
// Layout under Config.Root:
//
//	index.json                 reference → image record
//	blobs/sha256/<hex>         raw manifests and configs
//	layers/sha256/<hex>/       unpacked layers (whiteouts in overlayfs form)
//	tmp/                       staging for unpacks and removals (same filesystem)
//
// All parsing goes through github.com/google/go-containerregistry; only the
// untar-to-directory step is written here.
package image
