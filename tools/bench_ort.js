// ONNX Runtime peer for make bench: node tools/bench_ort.js MODEL.onnx INPUT.f32 N C H W THREADS REPEAT
// Prints "median_ms X". Graph optimisation 'all', CPU execution provider.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(process.env.ORT_NODE_MODULES || 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, input, n, c, h, w, threads, repeat] = process.argv.slice(2);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
  });
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', data, [n, c, h, w].map(Number));
  const times = [];
  for (let i = 0; i < 3 + Number(repeat); i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    if (i >= 3) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log('median_ms ' + times[Math.floor(times.length / 2)].toFixed(3));
}

main().catch((e) => { console.error(e); process.exit(1); });
