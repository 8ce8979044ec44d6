#ifndef PNEUMO_VERSION_H
#define PNEUMO_VERSION_H
#define PNEUMO_VERSION "0.1.0"
#endif
