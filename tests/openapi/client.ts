// client.ts - a TypeScript client generated from api/openapi.json (@hey-api/openapi-ts) calls
// a running daemon: the document is complete enough that generated code works as written
// (paths, bodies, the bearer scheme, problem+json errors, types that tsc accepts).
import { readFileSync } from 'node:fs';
import { client } from './gen/client.gen';
import { listModels, segment, healthz, listJobs, getJob } from './gen/sdk.gen';

function check(ok: unknown, what: string): void {
    if (!ok) {
        console.error('client: FAILED: ' + what);
        process.exit(1);
    }
}

async function main(): Promise<void> {
    const base = process.env.LGMSD_URL as string;
    const png = readFileSync(process.env.LGMSD_PNG as string);
    client.setConfig({ baseUrl: base, auth: () => process.env.LGMSD_KEY });

    const h = await healthz();
    check(h.response?.status === 200 && h.data?.status === 'ok', 'healthz');

    const m = await listModels();
    check(m.response?.status === 200, 'listModels status ' + m.response?.status);
    check(m.data?.models[0].name === 'default' && m.data.models[0].spatial_dims === 2, 'listModels body');

    const r = await segment({ body: { image: png.toString('base64'), threshold: 0.4, outputs: ['mask'] } });
    check(r.response?.status === 200, 'segment status ' + r.response?.status + ' ' + JSON.stringify(r.error));
    check(r.data?.threshold === 0.4, 'segment threshold ' + r.data?.threshold);
    // one image: a Segmentation (FramesSegmentation is a multi-frame DICOM's frame=all)
    const one = r.data && !('frames' in r.data) ? r.data : undefined;
    check(one?.mask?.mime === 'image/png' && one.overlay === undefined, 'segment outputs');
    check((one?.classes.length ?? 0) >= 1 && one?.timings_ms.inference !== undefined, 'segment classes, timings');

    const bad = await segment({ body: { image: '@@@' } });
    check(bad.response?.status === 400 && bad.error?.status === 400 && bad.error.title === 'Bad request', 'problem+json 400');

    const jobs = await listJobs();
    check(jobs.response?.status === 200 && Array.isArray(jobs.data?.jobs), 'listJobs');
    const missing = await getJob({ path: { id: '0123456789abcdef0123456789abcdef' } });
    check(missing.response?.status === 404 && missing.error?.status === 404, 'getJob 404');

    client.setConfig({ baseUrl: base, auth: () => 'wrong-key' });
    const denied = await listModels();
    check(denied.response?.status === 401, 'the bearer key is sent: a wrong one is refused');
    console.log('client: a generated TypeScript client called the daemon: models, segment, errors, jobs, auth');
}

main();
