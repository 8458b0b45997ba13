// Package podsource turns the places pods come from into one stream of
// desired pods: a directory of static pod manifests (Dir), the pods the
// apiserver binds to the node (API), both merged (Merge), and the mirror pods
// that show static pods in the apiserver (Mirrors).
package podsource
