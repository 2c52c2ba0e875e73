// Package ckubelet carries ckubelet's own source, so that an installed ckubelet can build
// itself for another platform (node bundles carry ckubelet for the node) the way it builds
// every other component: from source, as a module at its version, with the go.sum that pins
// its dependencies.
package ckubelet

import "embed"

// Source is the module's go.mod, go.sum, this package and the packages of the ckubelet command.
//
//go:embed go.mod go.sum source.go cmd internal
var Source embed.FS

// Module is ckubelet's module path.
const Module = "github.com/ckubelet/ckubelet"
