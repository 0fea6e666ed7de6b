package main

import "embed"

// builtinCatalog holds the vendor policies and schemas that ship in the binary.
//
//go:embed policies/*.yaml schemas
var builtinCatalog embed.FS
