/* The speech side of pretrain, eval and embed (speech.h). */
#include "cmd/speech.h"
#include "core/error.h"
#include "core/rng.h"
#include "io/audio.h"
#include "io/spanmask.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RNG_STREAM_ORDER 0x4f52444500000000ull   /* "ORDE" ^ epoch */
#define RNG_STREAM_CROP 0x43524f5000000000ull    /* "CROP" ^ draw */

int ds_speech_set_open(ds_speech_set *s, char *const *inputs, int n, long min_samples, long cache_budget)
{
    memset(s, 0, sizeof *s);
    int e = ds_speech_open(&s->list, inputs, n);
    if (e) return e;
    long N = s->list.n;
    s->len = calloc((size_t)N, sizeof *s->len);
    s->keep = calloc((size_t)N, sizeof *s->keep);
    s->cache = calloc((size_t)N, sizeof *s->cache);
    s->cache_budget = cache_budget;
    if (!s->len || !s->keep || !s->cache) { ds_speech_set_free(s); return ds_err(DS_ENOMEM, "out of memory for %ld utterances", N); }
    for (long i = 0; i < N; i++) {
        const ds_utt *u = &s->list.u[i];
        ds_audio_info info;
        if ((e = ds_audio_probe(u->path, &info))) { ds_speech_set_free(s); return e; }
        s->len[i] = ds_audio_resampled_length(info.frames, info.rate, DS_AUDIO_RATE);
        if (s->len[i] < min_samples) s->n_short++;
        else s->keep[s->n++] = i;
    }
    if (!s->n) {
        long longest = 0;
        for (long i = 0; i < N; i++)
            if (s->len[i] > longest) longest = s->len[i];
        e = ds_err(DS_EINVAL, "%s%s: no utterance has the %ld samples (%.2f s) needed; the longest has %ld", inputs[0],
                   n > 1 ? " ..." : "", min_samples, (double)min_samples / DS_AUDIO_RATE, longest);
        ds_speech_set_free(s);
        return e;
    }
    return 0;
}

const char *ds_speech_set_id(const ds_speech_set *s, long k) { return s->list.u[s->keep[k]].id; }

const char *ds_speech_set_text(const ds_speech_set *s, long k)
{
    return k < 0 || k >= s->n ? NULL : s->list.u[s->keep[k]].text;
}

int ds_speech_set_get(ds_speech_set *s, long k, float **x, long *n, int *owned)
{
    long i = s->keep[k];
    *owned = 0;
    if (s->cache[i]) { *x = s->cache[i]; *n = s->len[i]; return 0; }
    int e = ds_speech_load(&s->list, i, DS_AUDIO_RATE, 1, x, n);
    if (e) return e;
    s->len[i] = *n;   /* the decoded length wins over the header's (MP3 estimates) */
    if (s->cached_samples + *n <= s->cache_budget) {
        s->cache[i] = *x;
        s->cached_samples += *n;
    } else {
        *owned = 1;
    }
    return 0;
}

void ds_speech_set_free(ds_speech_set *s)
{
    if (s->cache)
        for (long i = 0; i < s->list.n; i++) free(s->cache[i]);
    free(s->cache);
    free(s->len);
    free(s->keep);
    ds_speech_free(&s->list);
    memset(s, 0, sizeof *s);
}

/* ---- batches ---------------------------------------------------------- */

typedef struct { long len, rank, k; } sort_key;

static int cmp_key(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

int ds_speech_plan_make(ds_speech_plan *p, const ds_speech_set *s, long max_tokens, long crop, long max_batch,
                        uint64_t seed, long epoch)
{
    long N = s->n;
    memset(p, 0, sizeof *p);
    sort_key *key = malloc(sizeof *key * (size_t)N);
    long *perm = malloc(sizeof *perm * (size_t)N), *bord = malloc(sizeof *bord * (size_t)(N + 1));
    p->order = malloc(sizeof *p->order * (size_t)N);
    p->start = malloc(sizeof *p->start * (size_t)(N + 1));
    long *tmp_start = malloc(sizeof *tmp_start * (size_t)(N + 1));
    if (!key || !perm || !bord || !p->order || !p->start || !tmp_start) {
        free(key); free(perm); free(bord); free(tmp_start);
        ds_speech_plan_free(p);
        return ds_err(DS_ENOMEM, "out of memory for the batches of %ld utterances", N);
    }
    ds_rng r;
    ds_rng_init(&r, seed, RNG_STREAM_ORDER ^ (uint64_t)epoch);
    for (long i = 0; i < N; i++) perm[i] = i;
    for (long i = N - 1; i > 0; i--) {
        long j = (long)ds_rng_below(&r, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j]; perm[j] = t;
    }
    for (long i = 0; i < N; i++) {
        long k = perm[i], len = s->len[s->keep[k]];
        key[i] = (sort_key){ len < crop ? len : crop, i, k };
    }
    qsort(key, (size_t)N, sizeof *key, cmp_key);
    long nb = 0, cnt = 0;
    for (long i = 0; i < N; i++) {
        /* ascending lengths: the newcomer is the batch's longest */
        if (cnt && ((cnt + 1) * key[i].len > max_tokens || cnt >= max_batch)) { nb++; cnt = 0; }
        if (!cnt) tmp_start[nb] = i;
        cnt++;
    }
    nb++;
    tmp_start[nb] = N;
    /* the batches in a seeded random order */
    for (long b = 0; b < nb; b++) bord[b] = b;
    for (long b = nb - 1; b > 0; b--) {
        long j = (long)ds_rng_below(&r, (uint64_t)b + 1), t = bord[b];
        bord[b] = bord[j]; bord[j] = t;
    }
    long o = 0;
    for (long b = 0; b < nb; b++) {
        p->start[b] = o;
        for (long i = tmp_start[bord[b]]; i < tmp_start[bord[b] + 1]; i++) p->order[o++] = key[i].k;
    }
    p->start[nb] = o;
    p->nb = nb;
    free(key); free(perm); free(bord); free(tmp_start);
    return 0;
}

void ds_speech_plan_free(ds_speech_plan *p)
{
    free(p->order);
    free(p->start);
    memset(p, 0, sizeof *p);
}

void ds_speech_order_init(ds_speech_order *o, long max_tokens, long crop, long max_batch, uint64_t seed)
{
    memset(o, 0, sizeof *o);
    o->max_tokens = max_tokens;
    o->crop = crop;
    o->max_batch = max_batch > 0 ? max_batch : 1L << 30;
    o->seed = seed;
}

int ds_speech_order_ready(ds_speech_order *o, const ds_speech_set *s, int *made)
{
    *made = 0;
    if (o->plan.nb) return 0;
    int e = ds_speech_plan_make(&o->plan, s, o->max_tokens, o->crop, o->max_batch, o->seed, 0);
    o->epoch = 0;
    *made = !e;
    return e;
}

int ds_speech_order_at(ds_speech_order *o, const ds_speech_set *s, uint64_t draw, const long **idx, int *n)
{
    int made, e = ds_speech_order_ready(o, s, &made);
    if (e) return e;
    long epoch = (long)(draw / (uint64_t)o->plan.nb);
    if (epoch != o->epoch) {
        ds_speech_plan_free(&o->plan);
        if ((e = ds_speech_plan_make(&o->plan, s, o->max_tokens, o->crop, o->max_batch, o->seed, epoch))) return e;
        o->epoch = epoch;
    }
    long j = (long)(draw % (uint64_t)o->plan.nb);
    *idx = o->plan.order + o->plan.start[j];
    *n = (int)(o->plan.start[j + 1] - o->plan.start[j]);
    return 0;
}

void ds_speech_order_extent(const ds_speech_order *o, const ds_speech_set *s, long *B, long *S)
{
    *B = 1;
    *S = 0;
    for (long b = 0; b < o->plan.nb; b++)
        if (o->plan.start[b + 1] - o->plan.start[b] > *B) *B = o->plan.start[b + 1] - o->plan.start[b];
    for (long k = 0; k < s->n; k++)
        if (s->len[s->keep[k]] > *S) *S = s->len[s->keep[k]];
    if (*S > o->crop) *S = o->crop;
}

void ds_speech_order_free(ds_speech_order *o) { ds_speech_plan_free(&o->plan); }

/* Room for n rows of S samples. */
static int batch_room(ds_speech_batch *b, int n, long S)
{
    if ((long)n * S > b->cap) {
        float *q = realloc(b->buf, sizeof(float) * (size_t)n * (size_t)S);
        if (!q) return ds_err(DS_ENOMEM, "out of memory for a batch of %d x %ld samples", n, S);
        b->buf = q;
        b->cap = (long)n * S;
    }
    if (n > b->nmax) {
        const float **w = realloc(b->wave, sizeof *w * (size_t)n);
        if (w) b->wave = w;
        long *ns = w ? realloc(b->ns, sizeof *ns * (size_t)n) : NULL;
        if (!ns) return ds_err(DS_ENOMEM, "out of memory for a batch of %d utterances", n);
        b->ns = ns;
        b->nmax = n;
    }
    return 0;
}

/* crop > 0: every row cut to S = min(shortest, crop) at a random offset;
 * crop 0: every utterance whole, rows of the longest's length. */
static int batch_fill(ds_speech_batch *b, ds_speech_set *s, const long *idx, int n, long crop, uint64_t seed,
                      uint64_t draw)
{
    float *x[n];
    long len[n];
    int owned[n], e = 0, got = 0;
    long S = crop ? crop : 0;
    for (int i = 0; i < n && !e; i++, got++) {
        e = ds_speech_set_get(s, idx[i], &x[i], &len[i], &owned[i]);
        if (!e && (crop ? len[i] < S : len[i] > S)) S = len[i];
    }
    if (!e) e = batch_room(b, n, S);
    ds_rng r;
    ds_rng_init(&r, seed, RNG_STREAM_CROP ^ draw);
    for (int i = 0; i < n && !e; i++) {
        long off = crop && len[i] > S ? (long)ds_rng_below(&r, (uint64_t)(len[i] - S + 1)) : 0;
        long k = crop ? S : len[i];
        memcpy(b->buf + (size_t)i * S, x[i] + off, sizeof(float) * (size_t)k);
        b->wave[i] = b->buf + (size_t)i * S;
        b->ns[i] = k;
    }
    for (int i = 0; i < got; i++)
        if (owned[i]) free(x[i]);
    if (e) return e;
    b->B = n;
    b->S = S;
    return 0;
}

int ds_speech_batch_fill(ds_speech_batch *b, ds_speech_set *s, const long *idx, int n, long crop, uint64_t seed,
                         uint64_t draw)
{
    return batch_fill(b, s, idx, n, crop, seed, draw);
}

int ds_speech_batch_fill_whole(ds_speech_batch *b, ds_speech_set *s, const long *idx, int n)
{
    return batch_fill(b, s, idx, n, 0, 0, 0);
}

void ds_speech_batch_free(ds_speech_batch *b)
{
    free(b->buf);
    free(b->wave);
    free(b->ns);
    memset(b, 0, sizeof *b);
}

/* ---- masks, negatives, noise ------------------------------------------ */

int ds_w2v_draw(ds_w2v_draws *d, const ds_model *m, const int *lens, int B, int T, int train, uint64_t seed,
                uint64_t step)
{
    const ds_w2v_config *c = ds_w2v_cfg(m);
    long n = (long)B * T, GV = (long)c->num_codevector_groups * c->num_codevectors_per_group;
    if (n > d->cap) {
        uint8_t *mk = realloc(d->mask, (size_t)n);
        if (mk) d->mask = mk;
        int32_t *ng = realloc(d->neg, sizeof(int32_t) * (size_t)n * c->num_negatives);
        if (ng) d->neg = ng;
        float *g = realloc(d->gumbel, sizeof(float) * (size_t)n * GV);
        if (g) d->gumbel = g;
        if (!mk || !ng || !g) return ds_err(DS_ENOMEM, "out of memory for the masks of %d x %d frames", B, T);
        d->cap = n;
    }
    int per_row = ds_span_mask(d->mask, lens, B, T, c->mask_time_prob, c->mask_time_length, c->mask_time_min_masks,
                               seed, step);
    if (per_row < 0) return per_row;
    int M = ds_sample_negatives(d->neg, d->mask, lens, B, T, c->num_negatives, seed, step);
    if (M < 0) return M;
    if (M < 2) return ds_err(DS_EINVAL, "%d masked frames: the contrastive loss needs at least 2", M);
    if (train) ds_gumbel_noise(d->gumbel, (long)M * GV, seed, step);
    return M;
}

void ds_w2v_draws_free(ds_w2v_draws *d)
{
    free(d->mask);
    free(d->neg);
    free(d->gumbel);
    memset(d, 0, sizeof *d);
}

/* ---- evaluation ------------------------------------------------------- */

int ds_speech_evaluate(ds_model *m, ds_speech_set *s, long crop, uint64_t seed, ds_speech_eval *r)
{
    memset(r, 0, sizeof *r);
    long longest = 0;
    for (long k = 0; k < s->n; k++) {
        long len = s->len[s->keep[k]];
        if (len > longest) longest = len;
    }
    /* MP3 lengths are estimates until decoded: leave room */
    long S = longest < crop ? longest + 4096 : crop;
    m->eval_only = 0;
    int e = ds_w2v_reserve(m, 1, S);
    if (e) return e;
    ds_w2v_draws d = {0};
    double sum[7] = {0};
    for (long k = 0; k < s->n && !e; k++) {
        float *x;
        long n;
        int owned;
        if ((e = ds_speech_set_get(s, k, &x, &n, &owned))) break;
        if (n > S) n = S;
        const float *wave[1] = { x };
        int lens[1] = { ds_w2v_frames(ds_w2v_cfg(m), n) };
        ds_w2v_losses L;
        int M = ds_w2v_draw(&d, m, lens, 1, lens[0], 0, seed, (uint64_t)k);
        e = M < 0 ? M : ds_w2v_encode(m, wave, &n, 1, d.mask, 0, seed, (uint64_t)k);
        if (!e) e = ds_w2v_pretrain_loss(m, d.neg, NULL, ds_w2v_tau(ds_w2v_cfg(m), 0), &L);
        if (owned) free(x);
        if (e) { e = ds_err(e, "%s: %s", ds_speech_set_id(s, k), ds_errmsg()); break; }
        double w = (double)L.M;
        sum[0] += w * L.loss; sum[1] += w * L.contrastive; sum[2] += w * L.diversity; sum[3] += w * L.feature_pen;
        sum[4] += w * L.prob_perplexity; sum[5] += w * L.code_perplexity; sum[6] += (double)L.correct;
        r->masked += L.M;
        r->utterances++;
        r->samples += n;
    }
    ds_w2v_draws_free(&d);
    if (e) return e;
    double M = (double)r->masked;
    r->loss = sum[0] / M; r->contrastive = sum[1] / M; r->diversity = sum[2] / M; r->feature_pen = sum[3] / M;
    r->prob_perplexity = sum[4] / M; r->code_perplexity = sum[5] / M; r->accuracy = sum[6] / M;
    return 0;
}

json_t *ds_speech_eval_json(const ds_speech_eval *r, const char *prefix)
{
    json_t *j = json_object();
    char k[64];
#define PUT(name, v) (snprintf(k, sizeof k, "%s%s", prefix, name), json_object_set_new(j, k, v))
    PUT("loss", json_real(r->loss));
    PUT("loss_bits", json_real(r->loss / log(2.0)));
    PUT("contrastive", json_real(r->contrastive));
    PUT("diversity", json_real(r->diversity));
    PUT("feature_pen", json_real(r->feature_pen));
    PUT("prob_perplexity", json_real(r->prob_perplexity));
    PUT("code_perplexity", json_real(r->code_perplexity));
    PUT("accuracy", json_real(r->accuracy));
    PUT("masked_frames", json_integer(r->masked));
    PUT("utterances", json_integer(r->utterances));
    PUT("seconds", json_real((double)r->samples / DS_AUDIO_RATE));
#undef PUT
    return j;
}
