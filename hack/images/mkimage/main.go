// Command mkimage turns a root filesystem directory into a one-layer image
// and writes it as a docker-save tarball. Every file is owned by 0:0 unless
// --owner says otherwise, and every time stamp is fixed, so the same tree
// always gives the same image ID.
//
//	mkimage --rootfs DIR --ref kubelet-lite.local/busybox:v1 --out busybox.tar \
//	  --cmd '["sh"]' --env PATH=/bin --owner home/app=1000:1000
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the time stamp of every file and of the image config.
var epoch = time.Unix(0, 0).UTC()

type owner struct{ uid, gid int }

type options struct {
	rootfs, ref, out string
	entrypoint, cmd  string
	workdir, user    string
	env              []string
	owners           map[string]owner
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	o := options{owners: map[string]owner{}}
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.StringVar(&o.rootfs, "rootfs", "", "root filesystem directory (required)")
	fs.StringVar(&o.ref, "ref", "", "image reference to tag, e.g. kubelet-lite.local/busybox:v1 (required)")
	fs.StringVar(&o.out, "out", "", "docker-save tarball to write (required)")
	fs.StringVar(&o.entrypoint, "entrypoint", "", `entrypoint as a JSON array, e.g. '["/httpserver"]'`)
	fs.StringVar(&o.cmd, "cmd", "", `cmd as a JSON array, e.g. '["sh"]'`)
	fs.StringVar(&o.workdir, "workdir", "", "working directory")
	fs.StringVar(&o.user, "user", "", "user, e.g. 1000:1000")
	fs.Func("env", "NAME=VALUE (repeatable)", func(v string) error {
		o.env = append(o.env, v)
		return nil
	})
	fs.Func("owner", "PATH=UID:GID for a path below the rootfs (repeatable)", func(v string) error {
		return o.addOwner(v)
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.rootfs == "" || o.ref == "" || o.out == "" {
		return fmt.Errorf("--rootfs, --ref and --out are required")
	}
	return build(o)
}

func (o *options) addOwner(v string) error {
	path, ids, ok := strings.Cut(v, "=")
	uidS, gidS, ok2 := strings.Cut(ids, ":")
	uid, err1 := strconv.Atoi(uidS)
	gid, err2 := strconv.Atoi(gidS)
	if !ok || !ok2 || err1 != nil || err2 != nil {
		return fmt.Errorf("owner %q: want PATH=UID:GID", v)
	}
	o.owners[strings.Trim(path, "/")] = owner{uid, gid}
	return nil
}

func build(o options) error {
	tag, err := name.NewTag(o.ref)
	if err != nil {
		return fmt.Errorf("ref %q: %w", o.ref, err)
	}
	layerTar, err := tarRootfs(o.rootfs, o.owners)
	if err != nil {
		return fmt.Errorf("tar %s: %w", o.rootfs, err)
	}
	layer, err := tarball.LayerFromOpener(layerTar.opener())
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	cfg := v1.Config{Env: o.env, WorkingDir: o.workdir, User: o.user}
	if err := parseArray(o.entrypoint, &cfg.Entrypoint); err != nil {
		return fmt.Errorf("--entrypoint: %w", err)
	}
	if err := parseArray(o.cmd, &cfg.Cmd); err != nil {
		return fmt.Errorf("--cmd: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: epoch}, CreatedBy: "mkimage", Comment: "kubelet-lite test image",
	}})
	if err != nil {
		return fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created, cf.Config = "linux", "amd64", v1.Time{Time: epoch}, cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	tmp := o.out + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	if err := os.Rename(tmp, o.out); err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", o.out, tag.Name(), id)
	return nil
}

func parseArray(s string, dst *[]string) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), dst)
}
