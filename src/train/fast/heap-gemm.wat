;; Kernels in tfjs-wasm's own heap (WebAssembly SIMD128 and relaxed SIMD): matrix products, what
;; convolutions built on them need, and Adam's update. Compiled to heap-gemm.wasm by
;; `npm run build:wasm`; a test checks that the committed binary is this source compiled. The
;; module imports the wasm backend's memory, so tensors are read and written where tfjs keeps them,
;; with no copies in or out. Pointers and strides are byte offsets; every value is float32. See
;; heap-gemm.ts for the callers.
;;
;; gemm: C = A·B, or C += A·B when $acc is not 0, for C [m, n] and inner dimension k. A(i, k) is
;; read at a + i·ars + k·acs, so A may be stored row-major or transposed (a weight's gradient
;; reads the activations transposed this way, without a transposed copy). B comes in panels of 8
;; columns (4 for the last when n is 4 more than a multiple of 8): panel q at p + q·ps, its rows bs
;; bytes apart (bsTail in the 4-wide panel), either packed by `pack` (ps = 32k, bs = 32,
;; bsTail = 16) or B itself, row-major (ps = 32, bs = bsTail = its row stride). C(i, j) is at
;; c + i·cs + 4j. n must be a multiple of 4, k at least 1.
;;
;; Blocks of 4 × 8 outputs stay in 8 accumulators while k runs: each step loads 8 values of B and
;; splats 4 of A, for 32 multiply-adds (4 × 4 and 1 × 4 blocks take the edges). Products are
;; summed in order of k by relaxed SIMD's multiply-add, fused where the machine has FMA: 17% faster
;; than a separate multiply and add on the machine measured (61 against 52 GFLOP/s for
;; [1024, 256]·[256, 256]), where those reach the vector units' limit; the values then differ from
;; tfjs-wasm's (XNNPACK multiplies and adds separately) by float32 rounding. The caller splits k
;; and n into chunks that stay in cache.
(module
  (import "env" "memory" (memory 1))
  ;; One 4×8 block of C: c points at C(i, j), a at A(i, 0), b at B(0, j).
  (func $tile4x8 (param $a i32) (param $ars i32) (param $acs i32) (param $b i32) (param $bs i32) (param $c i32) (param $cs i32) (param $k i32) (param $acc i32)
    (local $s v128) (local $b0 v128) (local $b1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $r2 i32) (local $r3 i32)
    (local.set $r2 (i32.add (local.get $ars) (local.get $ars)))
    (local.set $r3 (i32.add (local.get $r2) (local.get $ars)))
    (if (local.get $acc) (then
      (local.set $c00 (v128.load offset=0 (local.get $c)))
      (local.set $c01 (v128.load offset=16 (local.get $c)))
      (local.set $c10 (v128.load offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 1)))))
      (local.set $c11 (v128.load offset=16 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 1)))))
      (local.set $c20 (v128.load offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 2)))))
      (local.set $c21 (v128.load offset=16 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 2)))))
      (local.set $c30 (v128.load offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 3)))))
      (local.set $c31 (v128.load offset=16 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 3)))))
    ))
    (loop $kl
      (local.set $b0 (v128.load offset=0 (local.get $b)))
      (local.set $b1 (v128.load offset=16 (local.get $b)))
      (local.set $s (v128.load32_splat (local.get $a)))
      (local.set $c00 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c00)))
      (local.set $c01 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c01)))
      (local.set $s (v128.load32_splat (i32.add (local.get $a) (local.get $ars))))
      (local.set $c10 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c10)))
      (local.set $c11 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c11)))
      (local.set $s (v128.load32_splat (i32.add (local.get $a) (local.get $r2))))
      (local.set $c20 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c20)))
      (local.set $c21 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c21)))
      (local.set $s (v128.load32_splat (i32.add (local.get $a) (local.get $r3))))
      (local.set $c30 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c30)))
      (local.set $c31 (f32x4.relaxed_madd (local.get $s) (local.get $b1) (local.get $c31)))
      (local.set $a (i32.add (local.get $a) (local.get $acs)))
      (local.set $b (i32.add (local.get $b) (local.get $bs)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br_if $kl (local.get $k)))
    (v128.store offset=0 (local.get $c) (local.get $c00))
    (v128.store offset=16 (local.get $c) (local.get $c01))
    (v128.store offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 1))) (local.get $c10))
    (v128.store offset=16 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 1))) (local.get $c11))
    (v128.store offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 2))) (local.get $c20))
    (v128.store offset=16 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 2))) (local.get $c21))
    (v128.store offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 3))) (local.get $c30))
    (v128.store offset=16 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 3))) (local.get $c31))
  )
  ;; One 4×4 block of C: c points at C(i, j), a at A(i, 0), b at B(0, j).
  (func $tile4x4 (param $a i32) (param $ars i32) (param $acs i32) (param $b i32) (param $bs i32) (param $c i32) (param $cs i32) (param $k i32) (param $acc i32)
    (local $s v128) (local $b0 v128)
    (local $c00 v128) (local $c10 v128) (local $c20 v128) (local $c30 v128)
    (local $r2 i32) (local $r3 i32)
    (local.set $r2 (i32.add (local.get $ars) (local.get $ars)))
    (local.set $r3 (i32.add (local.get $r2) (local.get $ars)))
    (if (local.get $acc) (then
      (local.set $c00 (v128.load offset=0 (local.get $c)))
      (local.set $c10 (v128.load offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 1)))))
      (local.set $c20 (v128.load offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 2)))))
      (local.set $c30 (v128.load offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 3)))))
    ))
    (loop $kl
      (local.set $b0 (v128.load offset=0 (local.get $b)))
      (local.set $s (v128.load32_splat (local.get $a)))
      (local.set $c00 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c00)))
      (local.set $s (v128.load32_splat (i32.add (local.get $a) (local.get $ars))))
      (local.set $c10 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c10)))
      (local.set $s (v128.load32_splat (i32.add (local.get $a) (local.get $r2))))
      (local.set $c20 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c20)))
      (local.set $s (v128.load32_splat (i32.add (local.get $a) (local.get $r3))))
      (local.set $c30 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c30)))
      (local.set $a (i32.add (local.get $a) (local.get $acs)))
      (local.set $b (i32.add (local.get $b) (local.get $bs)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br_if $kl (local.get $k)))
    (v128.store offset=0 (local.get $c) (local.get $c00))
    (v128.store offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 1))) (local.get $c10))
    (v128.store offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 2))) (local.get $c20))
    (v128.store offset=0 (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 3))) (local.get $c30))
  )
  ;; One 1×4 block of C: c points at C(i, j), a at A(i, 0), b at B(0, j).
  (func $tile1x4 (param $a i32) (param $ars i32) (param $acs i32) (param $b i32) (param $bs i32) (param $c i32) (param $cs i32) (param $k i32) (param $acc i32)
    (local $s v128) (local $b0 v128)
    (local $c00 v128)
    
    (if (local.get $acc) (then
      (local.set $c00 (v128.load offset=0 (local.get $c)))
    ))
    (loop $kl
      (local.set $b0 (v128.load offset=0 (local.get $b)))
      (local.set $s (v128.load32_splat (local.get $a)))
      (local.set $c00 (f32x4.relaxed_madd (local.get $s) (local.get $b0) (local.get $c00)))
      (local.set $a (i32.add (local.get $a) (local.get $acs)))
      (local.set $b (i32.add (local.get $b) (local.get $bs)))
      (local.set $k (i32.sub (local.get $k) (i32.const 1)))
      (br_if $kl (local.get $k)))
    (v128.store offset=0 (local.get $c) (local.get $c00))
  )

  (func (export "gemm")
    (param $a i32) (param $ars i32) (param $acs i32) (param $p i32) (param $ps i32) (param $bs i32) (param $bsTail i32)
    (param $c i32) (param $cs i32) (param $m i32) (param $n i32) (param $k i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $ai i32) (local $ci i32) (local $tail i32)
    (local.set $i (i32.const 0))
    (block $rowsDone (loop $rows
      (br_if $rowsDone (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $m)))
      (local.set $ai (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $ars))))
      (local.set $ci (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $cs))))
      (local.set $j (i32.const 0))
      (block $colsDone (loop $cols
        (br_if $colsDone (i32.gt_s (i32.add (local.get $j) (i32.const 8)) (local.get $n)))
        (call $tile4x8 (local.get $ai) (local.get $ars) (local.get $acs) (i32.add (local.get $p) (i32.mul (i32.shr_u (local.get $j) (i32.const 3)) (local.get $ps))) (local.get $bs)
          (i32.add (local.get $ci) (i32.shl (local.get $j) (i32.const 2))) (local.get $cs) (local.get $k) (local.get $acc))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $cols)))
      (if (i32.lt_s (local.get $j) (local.get $n)) (then
        (call $tile4x4 (local.get $ai) (local.get $ars) (local.get $acs) (i32.add (local.get $p) (i32.mul (i32.shr_u (local.get $j) (i32.const 3)) (local.get $ps))) (local.get $bsTail)
          (i32.add (local.get $ci) (i32.shl (local.get $j) (i32.const 2))) (local.get $cs) (local.get $k) (local.get $acc))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $rows)))
    (block $tailDone (loop $tail
      (br_if $tailDone (i32.ge_s (local.get $i) (local.get $m)))
      (local.set $ai (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $ars))))
      (local.set $ci (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $cs))))
      (local.set $j (i32.const 0))
      (block $colsDone (loop $cols
        (br_if $colsDone (i32.ge_s (local.get $j) (local.get $n)))
        ;; Columns j..j+3 are half of an 8-wide panel, or the 4-wide tail panel when j is past the
        ;; last multiple of 8.
        (local.set $tail (i32.ge_s (local.get $j) (i32.and (local.get $n) (i32.const -8))))
        (call $tile1x4 (local.get $ai) (local.get $ars) (local.get $acs)
          (i32.add (i32.add (local.get $p) (i32.mul (i32.shr_u (local.get $j) (i32.const 3)) (local.get $ps)))
            (select (i32.const 0) (i32.shl (i32.and (local.get $j) (i32.const 4)) (i32.const 2)) (local.get $tail)))
          (select (local.get $bsTail) (local.get $bs) (local.get $tail))
          (i32.add (local.get $ci) (i32.shl (local.get $j) (i32.const 2))) (local.get $cs) (local.get $k) (local.get $acc))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $cols)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $tail)))
  )

  ;; Packs B [k, n] into the panels gemm reads: for each 8 columns (the last 4 if n is 4 more than
  ;; a multiple of 8) a [k][8] (or [k][4]) block, contiguous, so that a block's k steps stream
  ;; through one run of memory instead of rows a stride apart (with strides of 1-8 KB the rows
  ;; fell into a few cache sets and evicted each other). B(k, j) is read at b + k·bks + j·bjs;
  ;; bjs = 4 (rows contiguous) copies 4 columns per load, otherwise one value at a time (B
  ;; transposed). n must be a multiple of 4.
  (func (export "pack")
    (param $b i32) (param $bks i32) (param $bjs i32) (param $p i32) (param $k i32) (param $n i32)
    (local $j i32) (local $w i32) (local $t i32) (local $jj i32) (local $src i32) (local $dst i32)
    (local.set $j (i32.const 0))
    (block $done (loop $panels
      (br_if $done (i32.ge_s (local.get $j) (local.get $n)))
      ;; The panel's width: 8, or 4 for the tail.
      (local.set $w (select (i32.const 8) (i32.const 4) (i32.le_s (i32.add (local.get $j) (i32.const 8)) (local.get $n))))
      (local.set $t (i32.const 0))
      (block $rowsDone (loop $rows
        (br_if $rowsDone (i32.ge_s (local.get $t) (local.get $k)))
        (local.set $src (i32.add (i32.add (local.get $b) (i32.mul (local.get $t) (local.get $bks))) (i32.mul (local.get $j) (local.get $bjs))))
        (if (i32.eq (local.get $bjs) (i32.const 4))
          (then
            (v128.store (local.get $p) (v128.load (local.get $src)))
            (if (i32.eq (local.get $w) (i32.const 8)) (then
              (v128.store offset=16 (local.get $p) (v128.load offset=16 (local.get $src))))))
          (else
            (local.set $jj (i32.const 0))
            (local.set $dst (local.get $p))
            (loop $cols
              (f32.store (local.get $dst) (f32.load (local.get $src)))
              (local.set $src (i32.add (local.get $src) (local.get $bjs)))
              (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
              (local.set $jj (i32.add (local.get $jj) (i32.const 1)))
              (br_if $cols (i32.lt_s (local.get $jj) (local.get $w))))))
        (local.set $p (i32.add (local.get $p) (i32.shl (local.get $w) (i32.const 2))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $rows)))
      (local.set $j (i32.add (local.get $j) (local.get $w)))
      (br $panels)))
  )

  ;; Each of m rows of C (n floats, a multiple of 4, at c + i·cs) set to the n floats at src: a
  ;; convolution's output starts as its bias.
  (func (export "fill_rows") (param $c i32) (param $cs i32) (param $m i32) (param $n i32) (param $src i32)
    (local $i i32) (local $j i32) (local $row i32)
    (local.set $i (i32.const 0))
    (block $done (loop $rows
      (br_if $done (i32.ge_s (local.get $i) (local.get $m)))
      (local.set $row (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $cs))))
      (local.set $j (i32.const 0))
      (block $rowDone (loop $cols
        (br_if $rowDone (i32.ge_s (local.get $j) (local.get $n)))
        (v128.store (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))
          (v128.load (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $cols)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows)))
  )

  ;; max(x, 0) in place over n floats (a multiple of 4) from p: a fused ReLU.
  (func (export "relu") (param $p i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store (local.get $p) (f32x4.max (v128.load (local.get $p)) (v128.const f32x4 0 0 0 0)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l)))
  )

  ;; Adam's update of n parameters (apex FusedAdam, as src/train/optimizer.ts writes it with tfjs
  ;; operations, operation for operation in float32, so the values are the same bit for bit):
  ;; gs = g / scale, m' = m·b1 + gs·c1, v' = v·b2 + gs²·c2, u = m' / (sqrt(v') + eps) (+ p·wd when
  ;; wd is not 0), p' = p − u·step; p', m', v' written to po, mo, vo.
  (func (export "adam") (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $po i32) (param $mo i32) (param $vo i32)
    (param $scale f32) (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32) (param $eps f32) (param $wd f32) (param $step f32)
    (local $i i32) (local $o i32) (local $vn i32)
    (local $gs v128) (local $m1 v128) (local $v1 v128) (local $u v128)
    (local $gs1 f32) (local $m11 f32) (local $v11 f32) (local $u1 f32)
    (local.set $vn (i32.and (local.get $n) (i32.const -4)))
    (local.set $i (i32.const 0))
    (block $done (loop $l
      (br_if $done (i32.ge_s (local.get $i) (local.get $vn)))
      (local.set $o (i32.shl (local.get $i) (i32.const 2)))
      (local.set $gs (f32x4.div (v128.load (i32.add (local.get $g) (local.get $o))) (f32x4.splat (local.get $scale))))
      (local.set $m1 (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o))) (f32x4.splat (local.get $b1)))
        (f32x4.mul (local.get $gs) (f32x4.splat (local.get $c1)))))
      (local.set $v1 (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $o))) (f32x4.splat (local.get $b2)))
        (f32x4.mul (f32x4.mul (local.get $gs) (local.get $gs)) (f32x4.splat (local.get $c2)))))
      (local.set $u (f32x4.div (local.get $m1) (f32x4.add (f32x4.sqrt (local.get $v1)) (f32x4.splat (local.get $eps)))))
      (if (f32.ne (local.get $wd) (f32.const 0)) (then
        (local.set $u (f32x4.add (local.get $u) (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $o))) (f32x4.splat (local.get $wd)))))))
      (v128.store (i32.add (local.get $po) (local.get $o))
        (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $o))) (f32x4.mul (local.get $u) (f32x4.splat (local.get $step)))))
      (v128.store (i32.add (local.get $mo) (local.get $o)) (local.get $m1))
      (v128.store (i32.add (local.get $vo) (local.get $o)) (local.get $v1))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l)))
    (block $tailDone (loop $tail
      (br_if $tailDone (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $o (i32.shl (local.get $i) (i32.const 2)))
      (local.set $gs1 (f32.div (f32.load (i32.add (local.get $g) (local.get $o))) (local.get $scale)))
      (local.set $m11 (f32.add (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1)) (f32.mul (local.get $gs1) (local.get $c1))))
      (local.set $v11 (f32.add (f32.mul (f32.load (i32.add (local.get $v) (local.get $o))) (local.get $b2))
        (f32.mul (f32.mul (local.get $gs1) (local.get $gs1)) (local.get $c2))))
      (local.set $u1 (f32.div (local.get $m11) (f32.add (f32.sqrt (local.get $v11)) (local.get $eps))))
      (if (f32.ne (local.get $wd) (f32.const 0)) (then
        (local.set $u1 (f32.add (local.get $u1) (f32.mul (f32.load (i32.add (local.get $p) (local.get $o))) (local.get $wd))))))
      (f32.store (i32.add (local.get $po) (local.get $o))
        (f32.sub (f32.load (i32.add (local.get $p) (local.get $o))) (f32.mul (local.get $u1) (local.get $step))))
      (f32.store (i32.add (local.get $mo) (local.get $o)) (local.get $m11))
      (f32.store (i32.add (local.get $vo) (local.get $o)) (local.get $v11))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $tail)))
  )
)
