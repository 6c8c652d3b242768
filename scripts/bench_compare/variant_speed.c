// Time per sample of a compiled variant's `process` DSP through Mephisto's C ABI
// (crates/compiler/src/wrapper.rs): dlopen, create, init at 48 kHz, the first 8 parameters
// set to 1 (gate and gain on where they exist), noise on the inputs, 64-frame blocks; the best
// of five slices of SECONDS. Prints ns per sample. Used by rustc_flags.sh.
//   cc -O2 variant_speed.c -o variant_speed -ldl;  variant_speed LIBRARY.so [SECONDS]
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef void* (*create_t)(void);
typedef int (*init_t)(void*, int);
typedef int (*setp_t)(void*, int, float);
typedef int (*io_t)(void*);
typedef int (*compute_t)(void*, int, const float* const*, float* const*);
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  void*h=dlopen(argv[1],RTLD_NOW); if(!h){fprintf(stderr,"%s\n",dlerror());return 1;}
  double seconds=argc>2?atof(argv[2]):5;
  create_t c=dlsym(h,"mephisto_voice_create"); init_t in=dlsym(h,"mephisto_voice_init");
  io_t ni=dlsym(h,"mephisto_voice_num_inputs"), no=dlsym(h,"mephisto_voice_num_outputs");
  compute_t cp=dlsym(h,"mephisto_voice_compute"); setp_t sp=dlsym(h,"mephisto_voice_set_param");
  void*d=c(); in(d,48000); int nin=ni(d), nout=no(d);
  for(int i=0;i<8;i++) sp(d,i,1.0f); // gate/gain on where they exist
  static float ib[8][64], ob[8][64]; const float* ip[8]; float* op[8];
  unsigned s=1; for(int k=0;k<8;k++){ip[k]=ib[k];op[k]=ob[k];for(int j=0;j<64;j++){s=s*1664525u+1013904223u;ib[k][j]=(s>>8)/16777216.0f-0.5f;}}
  long frames=(long)(seconds*48000); double best=1e9;
  for(int rep=0;rep<5;rep++){double t=now(); for(long f=0;f<frames/5;f+=64) cp(d,64,ip,op); double dt=(now()-t)/(frames/5)*1e9; if(dt<best)best=dt;}
  printf("%.2f\n",best); return 0;}
