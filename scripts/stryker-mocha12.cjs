// Loaded only by `npm run mutation` (NODE_OPTIONS=--require). The StrykerJS
// mocha runner (10.0.0) requires mocha's CLI helpers by extensionless paths
// (mocha/lib/cli/run-helpers, options, collect-files); mocha 12 ships them as
// .cjs files, which require() does not try, so the runner fails to load.
// Resolving .cjs the way .js is resolved (and loading it the same way) fixes
// that and changes nothing else: no file of this repository is .cjs.
const Module = process.getBuiltinModule('node:module');
if (!Object.hasOwn(Module._extensions, '.cjs')) Module._extensions['.cjs'] = Module._extensions['.js'];
