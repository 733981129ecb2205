#include "IoThread.h"

#include <pthread.h>

#include <cstdlib>
#include <iostream>

namespace mica::virtio {

IoThread::IoThread(const std::string& name, std::function<void()> onStart)
{
    thread_ = std::thread([this, name, onStart = std::move(onStart)] {
        pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
        try {
            if (onStart)
                onStart();
        } catch (const std::exception& e) {
            std::cerr << "mica-vmm: " << name << ": " << e.what() << std::endl;
            std::_Exit(1);
        }
        loop_.run();
    });
}

IoThread::~IoThread()
{
    loop_.stop();
    thread_.join();
}

}  // namespace mica::virtio
